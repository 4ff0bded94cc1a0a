package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	ltype "google.golang.org/genproto/googleapis/logging/type"
)

// ErrShutdown, given as the cause when the context of Run or Adopt is
// cancelled, makes them return at once with Outcome Detached, leaving the
// container running for the next gcpsim to adopt.
var ErrShutdown = errors.New("gcpsim is shutting down")

// Spec is one task attempt.
type Spec struct {
	Project, Region string
	Job, Execution  string // short IDs
	TaskIndex       int
	TaskAttempt     int
	TaskCount       int
	ContainerName   string
	Image           string
	Command, Args   []string
	Env             []string // KEY=VALUE from the template (after overrides)
	WorkingDir      string
	NanoCPUs        int64
	MemoryBytes     int64
	Timeout         time.Duration
	ServiceAccount  string // empty: Config.DefaultServiceAccount
}

// Outcome says how an attempt ended.
type Outcome int

const (
	Exited      Outcome = iota // the container exited on its own (ExitCode, or Signal when it died of one we sent)
	OutOfMemory                // killed for exceeding its memory limit (Signal 9)
	TimedOut                   // stopped because it reached the task timeout
	Cancelled                  // stopped because the context was cancelled
	StartFailed                // never ran: pull, create or start failed
	// Detached: gcpsim is shutting down (ErrShutdown) and left the container running, as an outage of Cloud Run's
	// API leaves tasks running; a later gcpsim adopts it (Runner.Adopt). Nothing about the attempt is known yet.
	Detached
)

// Attempt messages Cloud Run puts in last_attempt_result.status.message.
const (
	MsgExitError = "The container exited with an error."
	MsgOOM       = "The configured memory limit was reached."
	MsgTimeout   = "The configured timeout was reached."
	MsgCancelled = "The task was cancelled." // gcpsim's own wording
)

// Result is the end of one attempt.
type Result struct {
	Outcome  Outcome
	ExitCode int // meaningful when Signal == 0 and Outcome != StartFailed
	Signal   int // non-zero when the system terminated the container
	Message  string
	Started  time.Time // zero if it never started
	Ended    time.Time
}

// Succeeded reports whether the attempt counts as a success.
func (r Result) Succeeded() bool {
	return r.Outcome == Exited && r.Signal == 0 && r.ExitCode == 0
}

// Run runs one attempt and returns when its container has ended, its logs
// have been handed to the LogWriter and the container has been removed.
// started is called (may be nil) once the container runs. Cancelling ctx
// cancels the attempt: SIGTERM, then SIGKILL after the stop grace; unless the
// cause is ErrShutdown: then Run returns at once (Outcome Detached) and the
// container runs on, for the next gcpsim to Adopt.
func (r *Runner) Run(ctx context.Context, s Spec, started func(time.Time)) Result {
	if s.ServiceAccount == "" {
		s.ServiceAccount = r.cfg.DefaultServiceAccount
	}
	if r.cfg.StartLatency > 0 {
		select {
		case <-ctx.Done():
			return Result{Outcome: Cancelled, Message: MsgCancelled, Ended: time.Now()}
		case <-time.After(r.cfg.StartLatency):
		}
	}
	if err := r.pull(ctx, s.Image); err != nil {
		return r.startFailed(ctx, fmt.Sprintf("Failed to pull image %s: %v", s.Image, err))
	}
	ip, err := r.allocate(s.ServiceAccount)
	if err != nil {
		return r.startFailed(ctx, err.Error())
	}
	defer r.release(ip)
	id, err := r.create(ctx, s, ip)
	if err != nil {
		return r.startFailed(ctx, err.Error())
	}
	res := r.runContainer(ctx, s, id, started)
	if res.Outcome != Detached {
		r.remove(id)
	}
	return res
}

func (r *Runner) startFailed(ctx context.Context, msg string) Result {
	if ctx.Err() != nil {
		return Result{Outcome: Cancelled, Message: MsgCancelled, Ended: time.Now()}
	}
	return Result{Outcome: StartFailed, Message: msg, Ended: time.Now()}
}

func (r *Runner) pull(ctx context.Context, ref string) error {
	r.pullMu.Lock()
	defer r.pullMu.Unlock()
	if strings.Contains(ref, "@sha256:") {
		if _, err := r.docker.ImageInspect(ctx, ref); err == nil {
			return nil
		}
	}
	var opts client.ImagePullOptions
	if r.cfg.RegistryAuth != nil {
		auth, err := r.cfg.RegistryAuth(ctx, ref)
		if err != nil {
			return fmt.Errorf("registry credentials: %w", err)
		}
		opts.RegistryAuth = auth
	}
	resp, err := r.docker.ImagePull(ctx, ref, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

func (r *Runner) create(ctx context.Context, s Spec, ip netip.Addr) (string, error) {
	env := append([]string{}, s.Env...)
	env = append(env,
		"CLOUD_RUN_JOB="+s.Job,
		"CLOUD_RUN_EXECUTION="+s.Execution,
		"CLOUD_RUN_TASK_INDEX="+strconv.Itoa(s.TaskIndex),
		"CLOUD_RUN_TASK_ATTEMPT="+strconv.Itoa(s.TaskAttempt),
		"CLOUD_RUN_TASK_COUNT="+strconv.Itoa(s.TaskCount),
	)
	cfg := &container.Config{
		Image:      s.Image,
		Env:        env,
		WorkingDir: s.WorkingDir,
		Labels: map[string]string{
			LabelManaged:     "true",
			LabelNetwork:     r.cfg.Network,
			labelExecution:   s.Execution,
			labelTaskIndex:   strconv.Itoa(s.TaskIndex),
			labelTaskAttempt: strconv.Itoa(s.TaskAttempt),
		},
	}
	if len(s.Command) > 0 {
		cfg.Entrypoint = s.Command
	}
	if len(s.Args) > 0 {
		cfg.Cmd = s.Args
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(r.cfg.Network),
		// Cloud Run's tasks resolve metadata.google.internal (and reach 169.254.169.254) with nothing in their
		// environment: Google's clients find the metadata server by these defaults alone.
		ExtraHosts: []string{MetadataHostname + ":" + r.cfg.MetadataIP.String()},
		// Cloud Run jobs run in the second generation environment, "full Linux compatibility, including support
		// for all system calls, namespaces, and cgroups" (docs/local-stack.md): no seccomp filter, so a task may
		// create user and network namespaces as there (Docker's default profile refuses unshare/clone of them).
		// Capabilities stay Docker's defaults: Cloud Run grants no more.
		SecurityOpt: []string{"seccomp=unconfined"},
		Resources: container.Resources{
			NanoCPUs:   s.NanoCPUs,
			Memory:     s.MemoryBytes,
			MemorySwap: s.MemoryBytes, // no swap: Cloud Run has none
		},
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		r.cfg.Network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
	}}
	name := fmt.Sprintf("gcpsim-%s-task%d-a%d-%s", s.Execution, s.TaskIndex, s.TaskAttempt, randomHex(3))
	res, err := r.docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: cfg, HostConfig: host, NetworkingConfig: netCfg, Name: name,
	})
	if err != nil {
		return "", fmt.Errorf("create container for %s-task%d: %w", s.Execution, s.TaskIndex, err)
	}
	return res.ID, nil
}

func (r *Runner) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.docker.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("remove task container", "container", id, "err", err)
	}
}

// runContainer starts the container, follows its logs and waits for its end,
// enforcing the timeout and the cancellation.
func (r *Runner) runContainer(ctx context.Context, s Spec, id string, started func(time.Time)) Result {
	em := newEntryMaker(s, id, r.cfg.Logs)
	// The wait is registered before the start so that a fast exit is not missed.
	bg := context.WithoutCancel(ctx)
	wait := r.docker.ContainerWait(bg, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := r.docker.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return r.startFailed(ctx, fmt.Sprintf("Failed to start container: %v", err))
	}
	res := Result{Started: time.Now()}
	em.system(ltype.LogSeverity_INFO, "Starting task %s-task%d, attempt %d.", s.Execution, s.TaskIndex, s.TaskAttempt)
	if started != nil {
		started(res.Started)
	}
	return r.follow(ctx, s, id, em, wait, res, s.Timeout, "")
}

// follow follows a started container's logs (from since, a Docker logs "since" value; "" for all) and waits for its
// end, enforcing the timeout (what is left of the task timeout; ≤ 0 none) and the cancellation.
func (r *Runner) follow(ctx context.Context, s Spec, id string, em *entryMaker, wait client.ContainerWaitResult, res Result,
	timeoutLeft time.Duration, since string) Result {
	bg := context.WithoutCancel(ctx)
	logsCtx, stopLogs := context.WithCancel(bg)
	defer stopLogs()
	ended := make(chan struct{})
	logsDone := r.followLogs(logsCtx, id, em, ended, since)

	var timeout <-chan time.Time
	if timeoutLeft > 0 {
		t := time.NewTimer(timeoutLeft)
		defer t.Stop()
		timeout = t.C
	}
	var stoppedBy int // the last signal we sent
	select {
	case <-wait.Result:
	case <-wait.Error:
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), ErrShutdown) {
			stopLogs()
			close(ended)
			<-logsDone
			return Result{Outcome: Detached, Started: res.Started}
		}
		res.Outcome = Cancelled
		em.system(ltype.LogSeverity_WARNING, "Stopping task %s-task%d because its execution was cancelled.", s.Execution, s.TaskIndex)
		stoppedBy = r.stop(bg, id, wait, r.cfg.StopGrace)
	case <-timeout:
		res.Outcome = TimedOut
		em.system(ltype.LogSeverity_ERROR, "Terminating task because it has reached the maximum timeout of %d seconds.", int(s.Timeout.Seconds()))
		stoppedBy = r.stop(bg, id, wait, r.cfg.StopGrace)
	}
	res.Ended = time.Now()
	close(ended)
	<-logsDone
	r.finish(bg, id, s, em, stoppedBy, &res)
	return res
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. It returns the last
// signal sent.
func (r *Runner) stop(ctx context.Context, id string, wait client.ContainerWaitResult, grace time.Duration) int {
	sig := 15
	if grace <= 0 {
		sig = 9
	}
	if _, err := r.docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: strconv.Itoa(sig)}); err != nil {
		r.log.Warn("signal task container", "container", id, "signal", sig, "err", err)
	}
	if sig == 9 {
		waitEnd(wait, 30*time.Second)
		return sig
	}
	if waitEnd(wait, grace) {
		return sig
	}
	if _, err := r.docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "9"}); err != nil {
		r.log.Warn("kill task container", "container", id, "err", err)
	}
	waitEnd(wait, 30*time.Second)
	return 9
}

func waitEnd(wait client.ContainerWaitResult, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wait.Result:
		return true
	case <-wait.Error:
		return true
	case <-t.C:
		return false
	}
}

func (r *Runner) followLogs(ctx context.Context, id string, em *entryMaker, ended <-chan struct{}, since string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := &frameTracker{}
		out := &lineWriter{logID: LogStdout, m: em, seen: seen}
		errw := &lineWriter{logID: LogStderr, m: em, seen: seen}
		r.copyLogs(ctx, id, client.ContainerLogsOptions{Follow: true, Since: since}, out, errw)
		<-ended
		replay := seen.startReplay()
		if replay == "" {
			replay = since
		}
		r.copyLogs(ctx, id, client.ContainerLogsOptions{Since: replay}, out, errw)
		out.Flush()
		errw.Flush()
	}()
	return done
}

func (r *Runner) copyLogs(ctx context.Context, id string, opts client.ContainerLogsOptions, out, errw *lineWriter) {
	opts.ShowStdout, opts.ShowStderr, opts.Timestamps = true, true, true
	rc, err := r.docker.ContainerLogs(ctx, id, opts)
	if err != nil {
		r.log.Warn("read task logs", "container", id, "err", err)
		return
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(out, errw, rc); err != nil {
		r.log.Warn("read task logs", "container", id, "err", err)
	}
}

// finish inspects the ended container, fills in the result and writes the
// closing system entries; "Container called exit(N)." or "Container
// terminated on signal N." is always the attempt's last entry.
func (r *Runner) finish(ctx context.Context, id string, s Spec, em *entryMaker, stoppedBy int, res *Result) {
	ins, err := r.docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		r.log.Warn("inspect ended task container", "container", id, "err", err)
	}
	st := ins.Container.State
	exit := 0
	if st != nil {
		exit = st.ExitCode
	}
	switch {
	case st != nil && st.OOMKilled:
		res.Outcome, res.Signal, res.Message = OutOfMemory, 9, MsgOOM
		mib := s.MemoryBytes >> 20
		em.system(ltype.LogSeverity_ERROR, "Memory limit of %d MiB exceeded with %d MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits", mib, mib)
	case stoppedBy != 0 && exit == 128+stoppedBy:
		res.Signal = stoppedBy
	default:
		res.ExitCode = exit
	}
	switch res.Outcome {
	case TimedOut:
		res.Message = MsgTimeout
	case Cancelled:
		res.Message = MsgCancelled
	case Exited:
		if !res.Succeeded() {
			res.Message = MsgExitError
		}
	}
	if res.Signal != 0 {
		em.system(ltype.LogSeverity_WARNING, "Container terminated on signal %d.", res.Signal)
		return
	}
	sev := ltype.LogSeverity_INFO
	if res.ExitCode != 0 {
		sev = ltype.LogSeverity_WARNING
	}
	em.system(sev, "Container called exit(%d).", res.ExitCode)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
