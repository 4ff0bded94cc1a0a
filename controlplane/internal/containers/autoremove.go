package containers

import (
	"context"
	"errors"
	"time"

	"github.com/containerd/errdefs"
)

// Docker removes a --rm container when it exits, and `docker run --rm` waits for that removal (wait
// condition=removed). Here the removal deletes the container's executions through the Admin API, which may not
// answer for a while (an outage, or the moments after one). A removal refused as unavailable is therefore retried in
// the background, with backoff, for up to autoRemoveRetryFor. When it still fails, or fails for another reason, the
// container stays (docker rm removes it later) and the removal waiters are told why, as Docker tells them (the wait
// response's Error), instead of waiting for a removal that will never come.
const (
	autoRemoveRetryFor     = 2 * time.Minute
	autoRemoveBackoffStart = 500 * time.Millisecond
	autoRemoveBackoffMax   = 10 * time.Second
	autoRemoveCallTimeout  = 30 * time.Second
)

// actionRemovalFailed is the in-process notice to removal waiters that an auto-removal failed (Docker has no such
// event: it is neither recorded nor streamed to /events).
const actionRemovalFailed = "runsock-removal-failed"

// autoRemove removes c, which has just exited (or failed to start) with AutoRemove set; a removal refused as
// unavailable goes on in the background (owned by the Service, ended by Close).
func (s *Service) autoRemove(ctx context.Context, c *Container) {
	err := s.remove(ctx, c, true) // run --rm removes the anonymous volumes too, as Docker does
	if err == nil || errdefs.IsNotFound(err) {
		return
	}
	s.mu.Lock() // Close cancels s.ctx under mu: an Add made after the check is one its Wait sees
	retry := errdefs.IsUnavailable(err) && s.ctx.Err() == nil
	if retry {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if !retry {
		s.removalFailed(c, err)
		return
	}
	s.log.Warn("auto-remove: retrying", "container", c.ID, "err", err)
	go func() {
		defer s.wg.Done()
		s.retryAutoRemove(c, err)
	}()
}

// errRunningAgain stops the retries of an auto-removal: the container was started again meanwhile, and its next
// exit removes it.
var errRunningAgain = errors.New("running again")

// retryAutoRemove retries the removal of c while it fails as unavailable, for up to autoRemoveRetryFor, from c's
// stored state each time. It stops when the container is gone or running again.
func (s *Service) retryAutoRemove(c *Container, err error) {
	deadline := s.now().Add(s.autoRemoveRetryFor)
	delay := autoRemoveBackoffStart
	for errdefs.IsUnavailable(err) && !s.now().Add(delay).After(deadline) {
		if s.sleep(s.ctx, delay) != nil {
			return // Close: the container stays, exited
		}
		delay = min(delay*2, autoRemoveBackoffMax)
		err = func() error {
			ctx, cancel := context.WithTimeout(s.ctx, autoRemoveCallTimeout)
			defer cancel()
			cur, err := s.store.GetContainer(ctx, c.ID)
			if err != nil {
				return err
			}
			if cur.Running() {
				return errRunningAgain
			}
			return s.remove(ctx, cur, true)
		}()
		switch {
		case s.ctx.Err() != nil || errors.Is(err, errRunningAgain):
			return
		case err == nil || errdefs.IsNotFound(err):
			s.log.Info("auto-removed after retrying", "container", c.ID)
			return
		}
	}
	s.removalFailed(c, err)
}

// removalFailed logs a failed auto-removal and tells the removal waiters of c.
func (s *Service) removalFailed(c *Container, err error) {
	s.log.Error("auto-remove", "container", c.ID, "err", err)
	s.bus.publish(Event{Owner: c.Owner, Type: "container", Action: actionRemovalFailed, ActorID: c.ID, Time: s.now(),
		Attributes: map[string]string{"error": err.Error()}, internal: true})
}

// sleep waits d, or until ctx ends (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
