package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// Event actions for the reconciler's cleanups (type "daemon", owner "" = admins see them; name releases are the
// name owner's, type "container").
const (
	ActionDeleteExecution = "runsock-delete-execution"
	ActionCancelExecution = "runsock-cancel-execution"
	ActionDeleteJob       = "runsock-delete-job"
	ActionReleaseName     = "runsock-release-name"
)

// Cloud is the part of the Cloud Run driver the reconciler calls; *cloudrun.Driver implements it.
type Cloud interface {
	ListManaged(ctx context.Context) ([]cloudrun.JobInfo, error)
	Inspect(ctx context.Context, execution string) (cloudrun.Status, error)
	Cancel(ctx context.Context, execution string) error
	DeleteExecution(ctx context.Context, execution string) error
	DeleteJob(ctx context.Context, name, etag string) error
}

// State is the part of the store the reconciler reads; *store.Store implements it.
type State interface {
	ListContainers(ctx context.Context, owner string) ([]*containers.Container, error)
	OrphanNames(ctx context.Context) ([]store.NameReservation, error)
	ReleaseName(ctx context.Context, n store.NameReservation) (bool, error)
}

var (
	_ Cloud = (*cloudrun.Driver)(nil)
	_ State = (*store.Store)(nil)
)

// Config tunes a Reconciler. Zero values take the defaults.
type Config struct {
	// Interval between passes (default 5m).
	Interval time.Duration
	// JobIdleGrace keeps an unused job of runsock's own this long after its last activity (default 1h).
	JobIdleGrace time.Duration
	// LaunchGrace leaves an unreferenced execution of runsock's own job alone this long after its creation: a
	// launch records its execution in the container right after Cloud Run accepts it (default 2m).
	LaunchGrace time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Reconciler compares Firestore with Cloud Run and fixes what differs.
type Reconciler struct {
	cloud Cloud
	state State
	ender Ender
	cfg   Config
	log   *slog.Logger
}

// Report counts one pass's fixes.
type Report struct {
	Marked, CancelledExecutions, DeletedExecutions, DeletedJobs, ReleasedNames int
	// Restarted counts restarting containers the pass started again: their restart policy's moment had passed by
	// more than restartGrace and no instance had started them (a launch that failed, an instance that stopped).
	Restarted int
}

// restartGrace is how long past its moment a restarting container waits for the Service's own scheduling before the
// reconciler starts it.
const restartGrace = 30 * time.Second

// New returns a Reconciler.
func New(cloud Cloud, state State, ender Ender, cfg Config) *Reconciler {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.JobIdleGrace <= 0 {
		cfg.JobIdleGrace = time.Hour
	}
	if cfg.LaunchGrace <= 0 {
		cfg.LaunchGrace = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Reconciler{cloud: cloud, state: state, ender: ender, cfg: cfg, log: log}
}

// Run reconciles once at once and then every interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		rep, err := r.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("reconcile", "err", err, "marked", rep.Marked, "cancelledExecutions", rep.CancelledExecutions, "deletedExecutions", rep.DeletedExecutions,
				"deletedJobs", rep.DeletedJobs, "releasedNames", rep.ReleasedNames, "restarted", rep.Restarted)
		} else {
			r.log.Info("reconciled", "marked", rep.Marked, "cancelledExecutions", rep.CancelledExecutions, "deletedExecutions", rep.DeletedExecutions,
				"deletedJobs", rep.DeletedJobs, "releasedNames", rep.ReleasedNames, "restarted", rep.Restarted)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once runs one pass. Cloud Run is listed before Firestore, so anything launched during the pass is either
// referenced by a container already or young enough for LaunchGrace.
func (r *Reconciler) Once(ctx context.Context) (Report, error) {
	var rep Report
	jobs, err := r.cloud.ListManaged(ctx)
	if err != nil {
		return rep, err
	}
	list, err := r.state.ListContainers(ctx, "")
	if err != nil {
		return rep, err
	}
	referenced, current := map[string]bool{}, map[string]bool{}
	for _, c := range list {
		for _, e := range c.Executions {
			referenced[e] = true
		}
		if c.Running() {
			current[c.State.Execution] = true
		} else if len(c.Executions) > 0 && r.cfg.Now().Sub(c.State.FinishedAt) < r.cfg.LaunchGrace {
			// Just ended: the task may still be flushing its last output or being terminated.
			current[c.Executions[len(c.Executions)-1]] = true
		}
	}
	var errs []error
	errs = append(errs, r.markEnded(ctx, list, listedRunning(jobs), &rep)...)
	errs = append(errs, r.cancelLeaked(ctx, jobs, referenced, current, &rep)...)
	errs = append(errs, r.cleanCloud(ctx, jobs, referenced, &rep)...)
	errs = append(errs, r.releaseNames(ctx, &rep)...)
	n, err := r.ender.RestartDue(ctx, list, restartGrace)
	rep.Restarted = n
	errs = append(errs, err)
	return rep, errors.Join(errs...)
}

// listedRunning is the set of executions the listing showed running.
func listedRunning(jobs []cloudrun.JobInfo) map[string]bool {
	running := map[string]bool{}
	for _, j := range jobs {
		for _, e := range j.Executions {
			if e.Running {
				running[e.Name] = true
			}
		}
	}
	return running
}

// markEnded ends every container Firestore says runs whose execution Cloud Run says has ended or is gone. An
// execution the listing has just shown running is not read again: with many containers running, one read per
// container per pass would spend the read quota.
func (r *Reconciler) markEnded(ctx context.Context, list []*containers.Container, running map[string]bool, rep *Report) []error {
	var errs []error
	for _, c := range list {
		if !c.Running() || c.State.Execution == "" || running[c.State.Execution] {
			continue
		}
		st, err := r.cloud.Inspect(ctx, c.State.Execution)
		switch {
		case errdefs.IsNotFound(err):
			st = cloudrun.Status{Outcome: containers.Outcome{ExitCode: 137, Error: "execution not found", FinishedAt: r.cfg.Now()}}
		case err != nil:
			errs = append(errs, err)
			continue
		case st.Running:
			continue
		}
		changed, err := r.ender.ApplyOutcome(ctx, c.ID, c.State.Execution, st.Outcome, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			rep.Marked++
			r.log.Info("reconciler: container's execution had ended", "container", c.ID, "execution", c.State.Execution,
				"exitCode", st.Outcome.ExitCode)
		}
	}
	return errs
}

// cancelLeaked cancels running executions of containers that are no longer running them (a stop whose cancel
// failed, an exit recorded from a fact while the task was still being terminated). They stay, as the
// container's history, until docker rm.
func (r *Reconciler) cancelLeaked(ctx context.Context, jobs []cloudrun.JobInfo, referenced, current map[string]bool, rep *Report) []error {
	var errs []error
	for _, j := range jobs {
		for _, e := range j.Executions {
			if !e.Running || !referenced[e.Name] || current[e.Name] {
				continue
			}
			if err := r.cloud.Cancel(ctx, e.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.CancelledExecutions++
			r.log.Info("reconciler: cancelled a running execution its container no longer runs", "execution", e.Name)
			r.ender.Announce(ctx, containers.Event{Type: "daemon", Action: ActionCancelExecution, ActorID: e.Name,
				Attributes: map[string]string{"execution": e.Name, "job": cloudrun.JobOf(e.Name)}})
		}
	}
	return errs
}

// cleanCloud deletes executions no container references and jobs no container uses.
func (r *Reconciler) cleanCloud(ctx context.Context, jobs []cloudrun.JobInfo, referenced map[string]bool, rep *Report) []error {
	var errs []error
	now := r.cfg.Now()
	for _, j := range jobs {
		used := false
		for _, e := range j.Executions {
			if referenced[e.Name] || (j.Ours && now.Sub(e.CreateTime) < r.cfg.LaunchGrace) {
				used = true
				continue
			}
			if err := r.deleteExecution(ctx, e); err != nil {
				errs = append(errs, err)
				used = true
				continue
			}
			rep.DeletedExecutions++
		}
		if used || (j.Ours && now.Sub(j.LastActivity) <= r.cfg.JobIdleGrace) {
			continue
		}
		if err := r.cloud.DeleteJob(ctx, j.Name, j.Etag); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.DeletedJobs++
		r.log.Info("reconciler: deleted a job no container uses", "job", j.Name, "ownJob", j.Ours)
		r.ender.Announce(ctx, containers.Event{Type: "daemon", Action: ActionDeleteJob, ActorID: j.Name,
			Attributes: map[string]string{"job": j.Name}})
	}
	return errs
}

func (r *Reconciler) deleteExecution(ctx context.Context, e cloudrun.ExecutionInfo) error {
	if e.Running {
		if err := r.cloud.Cancel(ctx, e.Name); err != nil {
			return err
		}
	}
	if err := r.cloud.DeleteExecution(ctx, e.Name); err != nil {
		return err
	}
	r.log.Info("reconciler: deleted an execution no container references", "execution", e.Name, "wasRunning", e.Running)
	r.ender.Announce(ctx, containers.Event{Type: "daemon", Action: ActionDeleteExecution, ActorID: e.Name,
		Attributes: map[string]string{"execution": e.Name, "job": cloudrun.JobOf(e.Name)}})
	return nil
}

// releaseNames deletes name reservations whose container is missing (a request that crashed between reserving
// and creating). Each is re-checked in its own transaction.
func (r *Reconciler) releaseNames(ctx context.Context, rep *Report) []error {
	orphans, err := r.state.OrphanNames(ctx)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, n := range orphans {
		ok, err := r.state.ReleaseName(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		rep.ReleasedNames++
		r.log.Info("reconciler: released a name whose container is missing", "owner", n.Owner, "name", n.Name, "container", n.ID)
		r.ender.Announce(ctx, containers.Event{Owner: n.Owner, Type: "container", Action: ActionReleaseName, ActorID: n.ID,
			Attributes: map[string]string{"name": n.Name}})
	}
	return errs
}
