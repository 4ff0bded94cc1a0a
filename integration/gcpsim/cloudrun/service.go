package cloudrun

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// TaskRunner runs one task attempt (package tasks implements it on Docker).
type TaskRunner interface {
	Run(ctx context.Context, spec tasks.Spec, started func(time.Time)) tasks.Result
}

// Adopter is a TaskRunner that can continue the attempts an earlier gcpsim started (package tasks implements it):
// with one, a restart of gcpsim is an outage of the API, not the loss of the tasks.
type Adopter interface {
	TaskRunner
	// Claim reports whether the attempt's container is still there, and keeps it for Adopt.
	Claim(execution string, index, attempt int, serviceAccount string) bool
	// RemoveUnclaimed removes the containers of attempts nobody claimed.
	RemoveUnclaimed(ctx context.Context)
	// Adopt follows a claimed attempt to its end; since is when the earlier gcpsim stopped reading its output.
	Adopt(ctx context.Context, spec tasks.Spec, since time.Time) tasks.Result
}

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	Project       string // project ID; required
	ProjectNumber string // accepted in names in place of the ID; names are reported with the ID
	StatePath     string // JSON file the state is saved to and loaded from; "" keeps it in memory
	MaxJobs       int    // jobs per project and region; default 1000
	MaxRunning    int    // running executions per project and region; default 1000
	// Per-minute rate quotas per project and region: RunJob; writes (create/update/delete job, cancel/delete
	// execution, delete operation); reads (get/list/wait of jobs, executions, tasks, operations; IAM reads).
	// 0 = the default (DefaultRunJobsPerMinute…), negative = unlimited.
	RunJobsPerMinute, WritesPerMinute, ReadsPerMinute int
	// Buckets resolves Cloud Storage volumes to directories (nil: a task with one fails to start).
	Buckets Buckets
	// Now is the quotas' clock (nil = time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service implements the Jobs, Executions, Tasks and Operations servers.
type Service struct {
	runpb.UnimplementedJobsServer
	runpb.UnimplementedExecutionsServer
	runpb.UnimplementedTasksServer
	longrunningpb.UnimplementedOperationsServer

	cfg    Config
	runner TaskRunner
	log    *slog.Logger
	rates  rates

	mu      sync.Mutex
	st      *state
	running map[string]context.CancelCauseFunc // execution name → cancel
	adopt   map[string]bool                    // task name → its current attempt is to be adopted, not started
	changed chan struct{}                      // signals that st changed (LRO waiters, saver)
	closed  bool

	wg        sync.WaitGroup // execution goroutines
	saverDone chan struct{}
	stopSaver chan struct{}
}

var (
	_ runpb.JobsServer               = (*Service)(nil)
	_ runpb.ExecutionsServer         = (*Service)(nil)
	_ runpb.TasksServer              = (*Service)(nil)
	_ longrunningpb.OperationsServer = (*Service)(nil)
)

// Errors given as cancellation causes to the executions' contexts.
var (
	errCancelled = errors.New("execution cancelled")
	errDeleted   = errors.New("execution deleted")
)

// New loads the saved state and returns a Service ready to Register. The
// executions that were running continue: with an Adopter, the attempts whose
// containers are still there are adopted and tasks not yet started start;
// otherwise (or when a started attempt's container is gone) they fail.
func New(cfg Config, runner TaskRunner) (*Service, error) {
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = 1000
	}
	if cfg.MaxRunning == 0 {
		cfg.MaxRunning = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := loadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, runner: runner, log: cfg.Logger, st: st, rates: newRates(cfg),
		running:   map[string]context.CancelCauseFunc{},
		adopt:     map[string]bool{},
		changed:   make(chan struct{}),
		saverDone: make(chan struct{}),
		stopSaver: make(chan struct{}),
	}
	s.mu.Lock()
	if a, ok := runner.(Adopter); ok {
		s.resume(a, time.Now())
	} else {
		s.failOrphans(time.Now())
	}
	s.mu.Unlock()
	go s.saver()
	return s, nil
}

// Register adds the four services to a gRPC server.
func (s *Service) Register(g *grpc.Server) {
	runpb.RegisterJobsServer(g, s)
	runpb.RegisterExecutionsServer(g, s)
	runpb.RegisterTasksServer(g, s)
	longrunningpb.RegisterOperationsServer(g, s)
}

// Close stops driving executions, leaving their task containers running (their
// executions stay running in the saved state, and the next start adopts
// them), waits for every goroutine and saves the state.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, cancel := range s.running {
		cancel(tasks.ErrShutdown)
	}
	s.mu.Unlock()
	s.wg.Wait()
	close(s.stopSaver)
	<-s.saverDone
	return nil
}

func (s *Service) defaultServiceAccount() string {
	return s.cfg.ProjectNumber + "-compute@developer.gserviceaccount.com"
}

// touch must be called with s.mu held after every change of s.st.
func (s *Service) touch() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.st.dirty = true
}

// saver writes the state at most every 200 ms while it changes.
func (s *Service) saver() {
	defer close(s.saverDone)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stopSaver:
			s.save()
			return
		}
		s.save()
	}
}

func (s *Service) save() {
	s.mu.Lock()
	if !s.st.dirty || s.cfg.StatePath == "" {
		s.mu.Unlock()
		return
	}
	data, err := s.st.marshal()
	s.st.dirty = false
	s.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(s.cfg.StatePath, data)
	}
	if err != nil {
		s.log.Error("save state", "path", s.cfg.StatePath, "err", err)
	}
}
