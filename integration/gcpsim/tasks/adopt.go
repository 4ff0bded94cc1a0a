package tasks

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// An outage of gcpsim (its process stopped, as Cloud Run's Admin API may be unavailable for a while) is not the loss
// of the machines that run tasks: containers keep running while it is down, and the next Runner adopts them.

// attemptKey names one attempt of one task, as the labels of its container do.
type attemptKey struct {
	execution      string
	index, attempt int
}

type leftover struct {
	id string
	ip netip.Addr
}

// findLeftovers records the containers on this Runner's network and reserves their addresses.
func (r *Runner) findLeftovers(ctx context.Context) error {
	f := make(client.Filters).Add("label", LabelNetwork+"="+r.cfg.Network)
	res, err := r.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("tasks: list leftover containers: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range res.Items {
		index, err1 := strconv.Atoi(c.Labels[labelTaskIndex])
		attempt, err2 := strconv.Atoi(c.Labels[labelTaskAttempt])
		l := leftover{id: c.ID}
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[r.cfg.Network]; ep != nil && ep.IPAddress.IsValid() {
				l.ip = ep.IPAddress.Unmap()
				r.reserved[l.ip] = true
			}
		}
		k := attemptKey{c.Labels[labelExecution], index, attempt}
		if err1 != nil || err2 != nil || k.execution == "" {
			k = attemptKey{execution: "?" + c.ID} // not one of ours to adopt: removed by RemoveUnclaimed
		}
		r.leftovers[k] = l
	}
	return nil
}

// Claim takes the container an earlier Runner left for this attempt, binding its address to serviceAccount for the
// metadata server at once. It reports false when there is none: the attempt never got a container, or it is gone.
func (r *Runner) Claim(execution string, index, attempt int, serviceAccount string) bool {
	if serviceAccount == "" {
		serviceAccount = r.cfg.DefaultServiceAccount
	}
	k := attemptKey{execution, index, attempt}
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.leftovers[k]
	if !ok {
		return false
	}
	delete(r.leftovers, k)
	r.claimed[k] = l
	if l.ip.IsValid() {
		r.byIP[l.ip] = serviceAccount
	}
	return true
}

// RemoveUnclaimed removes the leftover containers nobody claimed (their tasks ended or were deleted while gcpsim was
// down, or they are not tasks) and frees their addresses.
func (r *Runner) RemoveUnclaimed(ctx context.Context) {
	r.mu.Lock()
	left := r.leftovers
	r.leftovers = map[attemptKey]leftover{}
	r.mu.Unlock()
	for k, l := range left {
		r.log.Info("removing leftover task container", "container", l.id, "execution", k.execution, "task", k.index, "attempt", k.attempt)
		if _, err := r.docker.ContainerRemove(ctx, l.id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("remove leftover task container", "container", l.id, "err", err)
		}
		if l.ip.IsValid() {
			r.release(l.ip)
		}
	}
}

// Adopt continues an attempt whose container was claimed with Claim, as Run would have: it follows the container
// from its state now (running, or ended while gcpsim was down) to its end, emitting its output written since `since`
// (when the earlier gcpsim stopped; what it had read was in its own Cloud Logging store) and enforcing what is left of
// s.Timeout. The result's Started and Ended are the container's own.
func (r *Runner) Adopt(ctx context.Context, s Spec, since time.Time) Result {
	k := attemptKey{s.Execution, s.TaskIndex, s.TaskAttempt}
	r.mu.Lock()
	l, ok := r.claimed[k]
	delete(r.claimed, k)
	r.mu.Unlock()
	if !ok {
		return Result{Outcome: StartFailed, Message: "The task was lost: its container is gone.", Ended: time.Now()}
	}
	if l.ip.IsValid() {
		defer r.release(l.ip)
	}
	bg := context.WithoutCancel(ctx)
	wait := r.docker.ContainerWait(bg, l.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	ins, err := r.docker.ContainerInspect(ctx, l.id, client.ContainerInspectOptions{})
	if err != nil || ins.Container.State == nil {
		r.remove(l.id)
		return Result{Outcome: StartFailed, Message: fmt.Sprintf("The task was lost: its container: %v", err), Ended: time.Now()}
	}
	st := ins.Container.State
	res := Result{Started: parseDockerTime(st.StartedAt)}
	if res.Started.IsZero() {
		res.Started = time.Now()
	}
	left := time.Duration(0)
	if s.Timeout > 0 {
		left = max(s.Timeout-time.Since(res.Started), time.Millisecond)
	}
	r.log.Info("adopting task container", "container", l.id, "execution", s.Execution, "task", s.TaskIndex, "attempt", s.TaskAttempt, "running", st.Running)
	em := newEntryMaker(s, l.id, r.cfg.Logs)
	sinceArg := ""
	if !since.IsZero() {
		sinceArg = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	res = r.follow(ctx, s, l.id, em, wait, res, left, sinceArg)
	if res.Outcome == Detached {
		return res
	}
	if !st.Running {
		if end := parseDockerTime(st.FinishedAt); !end.IsZero() {
			res.Ended = end
		}
	}
	r.remove(l.id)
	return res
}

func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
