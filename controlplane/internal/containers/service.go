package containers

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Options are a Service's dependencies. Store and Launcher are required; Images and Logs may be nil until wired
// (create then fails with 503, logs with 501).
type Options struct {
	Store    Store
	Launcher Launcher
	Images   ImageResolver
	Logs     LogSource
	// Agent gives starts the runsock agent (nil: containers run without it).
	Agent Agent
	// Sizes tells what prune frees (nil: prune reports nothing freed).
	Sizes WritableSizer
	// Volumes creates and removes the volumes containers mount (nil: a create naming one fails with 501).
	Volumes Volumes
	// Networks places containers on networks (nil: bridge only).
	Networks Networks
	Logger   *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

// Service runs the container lifecycle. Create it with New, call Resume once at start, Close at the end.
type Service struct {
	store    Store
	launcher Launcher
	images   ImageResolver
	logs     LogSource
	agent    Agent
	sizes    WritableSizer
	volumes  Volumes
	networks Networks
	log      *slog.Logger
	now      func() time.Time
	bus      *bus
	// sleep waits d or until ctx ends (tests replace it); autoRemoveRetryFor bounds the retries of an auto-removal.
	sleep              func(ctx context.Context, d time.Duration) error
	autoRemoveRetryFor time.Duration

	ctx       context.Context // ends at Close; parent of every watcher
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu         sync.Mutex      // guards watching and restarting, and orders every wg.Add before Close's cancel or after it
	watching   map[string]bool // executions with a watcher
	restarting map[string]bool // containers whose restart policy's next start is scheduled here

	healthMu sync.Mutex
	health   map[string]*liveHealth // running containers' health as their agents last reported it (health.go)
}

// New returns a Service; it starts nothing until Resume or Start.
func New(o Options) *Service {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: o.Store, launcher: o.Launcher, images: o.Images, logs: o.Logs, agent: o.Agent, sizes: o.Sizes,
		volumes: o.Volumes, networks: o.Networks,
		log: log, now: now,
		bus: newBus(), ctx: ctx, cancel: cancel, watching: map[string]bool{}, restarting: map[string]bool{}, health: map[string]*liveHealth{},
		sleep: sleep, autoRemoveRetryFor: autoRemoveRetryFor}
}

// Close stops every watcher and waits for them. Recorded state is untouched: a new Service resumes it.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock() // a watch that has checked s.ctx has also called wg.Add: Wait below sees it
		s.cancel()
		s.mu.Unlock()
		s.wg.Wait()
	})
	return nil
}

// Resume re-attaches a watcher to every container Firestore says is running, so a restart of the control plane
// loses no exit.
func (s *Service) Resume(ctx context.Context) error {
	running, err := s.store.ListRunning(ctx)
	if err != nil {
		return err
	}
	for _, c := range running {
		s.watch(c.ID, c.State.Execution)
		s.scheduleRestart(c)
	}
	s.log.Info("resumed watchers", "running", len(running))
	return nil
}

// watch starts (once per execution) the goroutine that records how execution ends.
func (s *Service) watch(id, execution string) {
	if execution == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watching[execution] || s.ctx.Err() != nil {
		return
	}
	s.watching[execution] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.watching, execution)
			s.mu.Unlock()
		}()
		s.watchExecution(id, execution)
	}()
}

func (s *Service) watchExecution(id, execution string) {
	backoff := 100 * time.Millisecond
	for {
		out, err := s.launcher.Wait(s.ctx, execution)
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			s.recordExit(s.ctx, id, execution, out)
			return
		}
		if errdefs.IsNotFound(err) {
			// The execution is gone (deleted behind our back): record it as ended so nothing waits forever.
			s.recordExit(s.ctx, id, execution, Outcome{ExitCode: 137, Error: "execution not found", FinishedAt: s.now()})
			return
		}
		s.log.Warn("wait for execution", "container", id, "execution", execution, "err", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// recordExit stores the outcome if execution ("" = whichever) is still the container's current one (full or short
// name), emits die, and removes AutoRemove containers.
func (s *Service) recordExit(ctx context.Context, id, execution string, out Outcome) {
	var ended string
	c, err := s.store.UpdateContainer(ctx, id, func(c *Container) error {
		ended = ""
		if !c.Running() || (execution != "" && !sameExecution(c.State.Execution, execution)) {
			return errNoChange
		}
		ended = c.State.Execution
		s.endRun(c, out)
		return nil
	})
	if errdefs.IsNotFound(err) || err == errNoChange {
		return
	}
	if err != nil {
		s.log.Error("record exit", "container", id, "execution", execution, "err", err)
		return
	}
	s.afterExit(ctx, c, ended, out)
}

// setExited records out as c's exit.
func (s *Service) setExited(c *Container, out Outcome) {
	c.State.Status = container.StateExited
	c.State.ExitCode = out.ExitCode
	c.State.OOMKilled = out.OOMKilled
	c.State.Error = out.Error
	c.State.FinishedAt = out.FinishedAt
	if c.State.FinishedAt.IsZero() {
		c.State.FinishedAt = s.now()
	}
	s.settleHealth(c, true)
	c.State.Execution = ""
	c.State.Paused = false
	c.State.RestartAt = time.Time{}
}

// afterExit tells of c's recorded exit from execution (oom and die events), then schedules the restart policy's next
// start or removes it if it is AutoRemove.
func (s *Service) afterExit(ctx context.Context, c *Container, execution string, out Outcome) {
	s.runEnded(c.ID, execution)
	if out.OOMKilled {
		s.emit(ctx, c, "oom", nil)
	}
	s.emitDie(ctx, c, execution, out)
	s.emitVolumes(ctx, c, "unmount")
	if c.Restarting() {
		s.scheduleRestart(c)
		return
	}
	if c.HostConfig.AutoRemove {
		s.autoRemove(ctx, c)
	}
}
