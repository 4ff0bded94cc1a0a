// Command agent is runsock's PID 1 in every container: `agent -- entrypoint cmd...`. It runs the user's command,
// forwards signals, reaps zombies, streams output and serves sessions over its reverse link to the control plane,
// and exits with the command's exit code once the control plane has acknowledged it (or after exitAckWait).
// Configuration comes from the RUNSOCK_* environment (see linkproto's Env constants); its own diagnostics go to
// stderr as JSON, never to the user's stdout.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runsock/runsock/agent/internal/capture"
	"github.com/runsock/runsock/agent/internal/dockersock"
	"github.com/runsock/runsock/agent/internal/filebinds"
	"github.com/runsock/runsock/agent/internal/health"
	"github.com/runsock/runsock/agent/internal/link"
	"github.com/runsock/runsock/agent/internal/mainproc"
	"github.com/runsock/runsock/agent/internal/netns"
	"github.com/runsock/runsock/agent/internal/output"
	"github.com/runsock/runsock/agent/internal/overlay"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/agent/internal/procfs"
	"github.com/runsock/runsock/agent/internal/sessions"
	"github.com/runsock/runsock/linkproto"
)

// Version is the agent's version, set with -ldflags "-X main.Version=…"; part of the agentimage cache key.
var Version = "dev"

const (
	bufferBytes = 8 << 20
	// exitAckWait bounds the wait for the control plane to acknowledge the exit (all output durable). An agent that
	// has linked waits out a control-plane restart or outage, so no output is lost; one that never linked gives up
	// soon (Cloud Logging still has the output).
	exitAckWait    = 3 * time.Minute
	exitNoLinkWait = 5 * time.Second
	neverLinkedAt  = 60 * time.Second // after this without any link, a full buffer drops instead of blocking
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == netns.HelperArg {
		// The agent binary between the clone of a --network none process and its exec (netns): nothing else runs.
		code, msg := netns.RunHelper(os.Args[2:])
		fmt.Fprintln(os.Stderr, msg)
		return code
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	args := os.Args[1:]
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	reaper := pid1.NewReaper()
	defer reaper.Close()
	buf := output.New(bufferBytes, nil)
	opts := mainproc.Options{
		Stdin:     os.Getenv(linkproto.EnvStdin) == "1",
		StdinOnce: os.Getenv(linkproto.EnvStdinOnce) == "1",
		TTY:       os.Getenv(linkproto.EnvTTY) == "1",
		User:      os.Getenv(linkproto.EnvUser),
		GroupAdd:  splitList(os.Getenv(linkproto.EnvGroupAdd)),
		WorkDir:   os.Getenv(linkproto.EnvWorkDir),
		Init:      os.Getenv(linkproto.EnvInit) == "1",
		NoNetwork: os.Getenv(linkproto.EnvNetworkNone) == "1",
		Tee:       true,
	}
	if opts.WorkDir != "" && mainproc.MakeWorkDir(opts.WorkDir) == nil {
		// The container's working directory is the agent's too, so an exec without -w runs there, as Docker's does
		// (Cloud Run is not given it: see agentsessions.Agent.Prepare). A -w that cannot be made fails the main
		// process at its start, with Docker's message.
		if err := os.Chdir(opts.WorkDir); err != nil {
			log.Warn("working directory", "dir", opts.WorkDir, "err", err)
		}
	}
	srv := &sessions.Server{Reaper: reaper, Log: log, Root: os.Getpid(), NoNetwork: opts.NoNetwork}
	staged := make(chan struct{})
	if os.Getenv(linkproto.EnvStaged) == "1" {
		var once sync.Once
		srv.StagedDone = func() { once.Do(func() { close(staged) }) }
	} else {
		close(staged)
	}

	// The snapshot the container's changes are found against, taken once the staged archives are applied, just
	// before the user's process starts (so a staged file the process deletes is a deletion).
	captured := make(chan struct{})
	var snap *capture.Snapshot
	if limit, err := strconv.ParseInt(os.Getenv(linkproto.EnvCapture), 10, 64); err == nil {
		var once sync.Once
		snap = capture.New("/")
		srv.Capture, srv.CaptureLimit = snap, limit
		srv.CaptureDone = func() { once.Do(func() { close(captured) }) }
	}

	// The healthcheck (nil without one) starts with the main process; its results go over the link, and the whole
	// state again after every hello.
	healthSpec, err := healthSpecFromEnv()
	if err != nil {
		log.Warn("healthcheck disabled", "err", err)
	}
	var mon *health.Monitor
	var client *link.Client
	if healthSpec != nil {
		mon = health.New(*healthSpec, sessions.Prober{Server: srv, User: opts.User, GroupAdd: opts.GroupAdd},
			func(h linkproto.Health) {
				if client != nil {
					_ = client.SendHealth(h) // without a link now, the next hello sends it
				}
			}, nil)
		srv.OnPause = mon.SetPaused
	}

	linked := make(chan struct{})
	var linkedOnce sync.Once
	// The overlay (networks) is built after the client it uses; the client calls it only once Run has started.
	var ov *overlay.Overlay
	onConnect := func() {
		linkedOnce.Do(func() { close(linked) })
		ov.LinkUp()
		if mon != nil {
			_ = client.SendHealth(mon.Current())
		}
	}
	// On a user-defined network the main process starts once the container's peers are applied (EnvPeers): the
	// first Peers frame that names the container itself (an earlier one can be empty, sent before the start is
	// recorded).
	peered := make(chan struct{})
	var peeredOnce sync.Once
	onPeers := func(p []linkproto.Peer) {
		ov.SetPeers(p)
		if slices.ContainsFunc(p, func(p linkproto.Peer) bool { return p.Self }) {
			peeredOnce.Do(func() { close(peered) })
		}
	}
	client = newClient(log, buf, srv, onConnect, onPeers)
	if client != nil {
		ov = overlay.New(overlay.Options{Link: client, Log: log})
		defer ov.Close()
		go ov.Run(ctx)
		go client.Run(ctx)
		go func() {
			select {
			case <-linked:
			case <-time.After(neverLinkedAt):
				buf.SetDropWhenFull(true)
			}
		}()
	}
	// The Docker socket the owner mounted: made before the user's process starts, so it finds it there.
	if paths := os.Getenv(linkproto.EnvDockerSocket); paths != "" {
		if client == nil {
			log.Warn("docker socket not served: no link to the control plane")
		} else {
			ds := dockersock.Listen(dockersock.Options{Paths: strings.Split(paths, ":"), Link: client, Log: log})
			defer ds.Close()
		}
	}
	// Files copied into the container before its start are applied before the user's process sees the filesystem.
	// Without a link they cannot arrive: fail at once rather than after StagedWait.
	stagedWait := linkproto.StagedWait
	if client == nil {
		stagedWait = 0
	}
	arrived := true
	select {
	case <-staged:
	default:
		select {
		case <-staged:
		case <-time.After(stagedWait):
			arrived = false
		}
	}
	if os.Getenv(linkproto.EnvPeers) == "1" && client != nil && arrived {
		select {
		case <-peered:
		case <-time.After(linkproto.PeersWait):
			log.Warn("network peers did not arrive: starting without them (their names resolve once they do)")
		}
	}
	// Single-file binds are placed with the staged files, before the snapshot: they are not the container's changes.
	placeErr := filebinds.Place(os.Getenv(linkproto.EnvFileBinds))
	if snap != nil {
		if err := snap.Take(); err != nil {
			log.Warn("filesystem snapshot failed: the container's changes will not be kept", "err", err)
		}
	}
	// The container's OOM kills so far: one more at the exit means the kernel killed a process of this run for
	// memory, which the exit report says at once (Cloud Run's own record of it arrives seconds later).
	oomBefore, oomKnown := procfs.OOMKills()
	var main *mainproc.Main
	switch {
	case placeErr != nil:
		main = mainproc.Failed(ctx, buf, opts, 126, "runsock agent: "+placeErr.Error())
	case arrived:
		main = mainproc.Start(ctx, reaper, args, opts, buf)
	default:
		main = mainproc.Failed(ctx, buf, opts, 126, "runsock agent: the files copied into the container before its start did not arrive")
	}
	srv.SetMain(main)
	if main.PID() != 0 {
		go pid1.Forward(ctx, main.Signal)
	}
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	if mon != nil && main.PID() != 0 {
		go mon.Run(hctx, time.Now())
	}

	<-main.Done()
	stopHealth() // as Docker's: no probe once the container has stopped
	code, at := main.Exit()
	oomAfter, _ := procfs.OOMKills()
	buf.Finish(output.Exit{Code: code, At: at, OOMKilled: oomKnown && oomAfter > oomBefore})
	if client != nil {
		wait := exitNoLinkWait
		select {
		case <-linked:
			wait = exitAckWait
		default:
		}
		select {
		case <-client.ExitAcked():
			// The exit is recorded (docker wait has answered); now the control plane takes the changes.
			if srv.Capture != nil {
				select {
				case <-captured:
				case <-time.After(linkproto.CaptureWait):
					log.Warn("the control plane did not take the container's changes")
				}
			}
		case <-time.After(wait):
			log.Warn("exit not acknowledged by the control plane; exiting anyway", "code", code)
		}
	}
	return code
}

// newClient builds the link from the environment; nil (with a warning) when the agent cannot link.
func newClient(log *slog.Logger, buf *output.Buffer, srv *sessions.Server, onConnect func(), onPeers func([]linkproto.Peer)) *link.Client {
	url := os.Getenv(linkproto.EnvURL)
	if url == "" {
		log.Warn("no " + linkproto.EnvURL + ": running without a link to the control plane")
		return nil
	}
	// On Cloud Run (CLOUD_RUN_JOB in a job's task, K_SERVICE in a service) the agent proves its identity with the
	// metadata server's token, found as Google's Go client finds it. GCE_METADATA_HOST is that client's override,
	// which only tests running the agent outside a task set; Cloud Run never does.
	var token func(context.Context, string) (string, error)
	if os.Getenv("CLOUD_RUN_JOB") != "" || os.Getenv("K_SERVICE") != "" || os.Getenv("GCE_METADATA_HOST") != "" {
		token = link.MetadataIdentityToken()
	}
	c, err := link.New(link.Config{
		URL:         url,
		CAPEM:       os.Getenv(linkproto.EnvCA),
		Audience:    os.Getenv(linkproto.EnvAudience),
		ContainerID: os.Getenv(linkproto.EnvContainerID),
		Execution:   os.Getenv(linkproto.EnvExecution),
		Bootstrap:   os.Getenv(linkproto.EnvBootstrap),
		Run:         os.Getenv(linkproto.EnvRun),
		Version:     Version,
		Token:       token,
		Buffer:      buf,
		Sessions:    srv,
		Log:         log,
		OnConnect:   onConnect,
		OnPeers:     onPeers,
	})
	if err != nil {
		log.Error("agent link disabled", "error", err)
		return nil
	}
	return c
}

// healthSpecFromEnv is the container's healthcheck (nil without one).
func healthSpecFromEnv() (*linkproto.HealthSpec, error) {
	v := os.Getenv(linkproto.EnvHealth)
	if v == "" {
		return nil, nil
	}
	var spec linkproto.HealthSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", linkproto.EnvHealth, err)
	}
	if len(spec.Cmd) == 0 || spec.Interval <= 0 || spec.Timeout <= 0 || spec.StartInterval <= 0 {
		return nil, fmt.Errorf("%s: incomplete healthcheck", linkproto.EnvHealth)
	}
	return &spec, nil
}

// splitList splits a comma-separated environment value ("" is none).
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
