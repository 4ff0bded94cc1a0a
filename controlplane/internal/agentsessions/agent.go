package agentsessions

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentimage"
	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/linkproto"
)

// Link is the part of the agent link server (*agentlink.Hub) this package calls.
type Link interface {
	Exec(ctx context.Context, id string, spec agentlink.ExecSpec, s agentlink.Streams, started func(pid int)) (int, error)
	Attach(ctx context.Context, id string, opts agentlink.AttachOptions, s agentlink.Streams) error
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Top(ctx context.Context, id, psArgs string) (container.TopResponse, error)
	Stats(ctx context.Context, id string, prev *container.StatsResponse) (container.StatsResponse, error)
	ArchiveStat(ctx context.Context, id, path string) (container.PathStat, error)
	ArchiveGet(ctx context.Context, id, path string) (container.PathStat, io.ReadCloser, error)
	ArchivePut(ctx context.Context, id, path string, r io.Reader, opts agentlink.PutOptions) error
	Capture(ctx context.Context, id string) (linkproto.Capture, io.ReadCloser, error)
	CaptureNow(ctx context.Context, id string) (linkproto.Capture, io.ReadCloser, error)
	Tunnel(ctx context.Context, id string, port int, conn io.ReadWriter) error
	WaitConnected(ctx context.Context, id string) error
	SetNotConnectedReason(id, why string)
	EndRun(id, execution string)
	Forget(id string)
}

var _ Link = (*agentlink.Hub)(nil)

// LiveLogDeleter removes a container's live output (*livelogs.Store).
type LiveLogDeleter interface {
	Delete(ctx context.Context, id string) error
}

// StagedArchives are the archives staged for containers' starts (*containerfs.Staging).
type StagedArchives interface {
	List(ctx context.Context, id string) ([]containerfs.Staged, error)
	Delete(ctx context.Context, id string) error
}

var _ StagedArchives = (*containerfs.Staging)(nil)

// RestoredLayers opens what a new start of a container restores: its earlier runs' captured changes, as layer
// tars in order (*containerfs.Files).
type RestoredLayers interface {
	RestoredLayers(ctx context.Context, id string) ([]string, error)
	OpenLayer(ctx context.Context, image string) (io.ReadCloser, error)
}

var _ RestoredLayers = (*containerfs.Files)(nil)

// AgentOptions configure an Agent. Wrap, Link and Credentials are required.
type AgentOptions struct {
	// Wrap returns the agent-wrapped form of a digest reference (agentimage.Layerer.Wrap's Image). Results are cached
	// per reference, so a base image is wrapped (and looked up in the registry) once per process.
	Wrap        func(ctx context.Context, image string) (string, error)
	Link        Link
	Credentials *Credentials
	// Logs deletes a removed container's live output (nil: it stays).
	Logs LiveLogDeleter
	// Staged are the archives copied into containers before they start (nil: none are).
	Staged StagedArchives
	// Restored are containers' earlier runs' changes, applied after the staged archives at a new start, as Docker
	// keeps a container's filesystem across restarts (nil: none are).
	Restored RestoredLayers
	// CaptureLimit > 0: agents capture their container's changes when its process ends, up to this many bytes of
	// file contents, or fewer for a container labelled containers.LabelCaptureLimit (not for --rm containers).
	CaptureLimit int64
	// URL is what agents dial; CAPEM the PEM of the CA that signed its certificate ("" = system roots); Audience
	// the identity-token audience ("" = URL).
	URL, CAPEM, Audience string
	// ServiceAccount is the email whose identity token agents must present ("" = tokens are not checked).
	ServiceAccount string
	Logger         *slog.Logger // nil: discard
}

// Agent is the agent's side of the container lifecycle (a containers.Agent): it gives starts the agent, signals
// main processes through the link, and forgets removed containers. Create it with NewAgent; Close it at the end.
type Agent struct {
	o   AgentOptions
	log *slog.Logger

	wrapped *cache[string] // digest reference → wrapped digest reference

	ctx       context.Context // ends at Close; parent of the live-output deletions
	cancel    context.CancelFunc
	mu        sync.Mutex // orders every wg.Add before Close's cancel or after it
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ containers.Agent = (*Agent)(nil)

// NewAgent returns an Agent; it starts nothing until a container is removed.
func NewAgent(o AgentOptions) *Agent {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{o: o, log: log, wrapped: newCache[string](), ctx: ctx, cancel: cancel}
}

// Close ends the pending live-output deletions (each still runs once, without waiting out its grace) and waits.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.cancel()
		a.mu.Unlock()
		a.wg.Wait()
	})
	return nil
}

// wrap returns the cached wrapped image for ref, wrapping it on first use.
func (a *Agent) wrap(ctx context.Context, ref string) (string, error) {
	if w, ok := a.wrapped.get(ref); ok {
		return w, nil
	}
	w, err := a.o.Wrap(ctx, ref)
	if err != nil {
		return "", err
	}
	a.wrapped.put(ref, w)
	return w, nil
}

// Prepare turns spec into an agent launch when it can: the wrapped image, the agent as entrypoint with the user's
// command as args, and the RUNSOCK_* environment. When the image cannot be wrapped the container still runs as it
// is, and the reason is recorded for the sessions' errors.
func (a *Agent) Prepare(ctx context.Context, c *containers.Container, spec *containers.LaunchSpec) containers.AgentRecord {
	wrapped, err := a.wrap(ctx, c.ImageRef)
	if err != nil {
		a.log.Warn("agent image", "container", c.ID, "image", c.ImageRef, "err", err)
		why := fmt.Sprintf("its image could not be given the agent (%v)", err)
		a.o.Link.SetNotConnectedReason(c.ID, why)
		return containers.AgentRecord{Unavailable: why}
	}
	secret, hash, err := agentlink.IssueSecret()
	if err != nil {
		a.o.Link.SetNotConnectedReason(c.ID, err.Error())
		return containers.AgentRecord{Unavailable: err.Error()}
	}
	run := randomHex(12)
	// Nothing is cached here: this start may still lose to a concurrent one, and its bootstrap must then prove
	// nothing. The agent's first dial is accepted once the record holds the start (it redials until then).
	rec := containers.AgentRecord{BootstrapHash: hash, ServiceAccount: a.o.ServiceAccount, Run: run}

	args := append(append([]string{"--"}, c.Config.Entrypoint...), c.Config.Cmd...)
	spec.Image, spec.Entrypoint, spec.Args = wrapped, []string{agentimage.AgentPath}, args
	// The agent creates the working directory (EnvWorkDir) and starts the process there, as Docker does: Cloud Run
	// documents nothing for a workingDir the image lacks, so the platform is not asked to enter one.
	spec.WorkingDir = ""
	spec.Env = append(append([]string(nil), spec.Env...), a.env(c, secret, run)...)
	if a.deliverStaged(ctx, c.ID) {
		spec.Env = append(spec.Env, linkproto.EnvStaged+"=1")
	}
	if limit, _ := containers.CaptureLimit(c, a.o.CaptureLimit); limit > 0 && !c.HostConfig.AutoRemove {
		spec.Env = append(spec.Env, linkproto.EnvCapture+"="+strconv.FormatInt(limit, 10))
	}
	return rec
}

// deliverStaged reports whether id has staged archives and, if so, hands them to its agent once it links, in
// order, the last one releasing the main process (the agent waits for it, up to linkproto.StagedWait). Failing to
// read them fails nothing here: the start goes on without them and the reason is logged.
func (a *Agent) deliverStaged(ctx context.Context, id string) bool {
	if a.o.Staged == nil {
		return false
	}
	staged, err := a.o.Staged.List(ctx, id)
	if err != nil {
		a.log.Warn("read staged archives; starting without them", "container", id, "err", err)
		return false
	}
	var restored []string
	if a.o.Restored != nil {
		if restored, err = a.o.Restored.RestoredLayers(ctx, id); err != nil {
			a.log.Warn("read the earlier runs' changes; starting without them", "container", id, "err", err)
			restored = nil
		}
	}
	if len(staged) == 0 && len(restored) == 0 {
		return false
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, linkproto.StagedWait)
		defer cancel()
		if err := a.o.Link.WaitConnected(ctx, id); err != nil {
			a.log.Warn("staged archives not delivered", "container", id, "err", err)
			return
		}
		last := len(staged) + len(restored) - 1
		for i, s := range staged {
			err := a.o.Link.ArchivePut(ctx, id, s.Path, bytes.NewReader(s.Data), agentlink.PutOptions{
				NoOverwriteDirNonDir: s.NoOverwriteDirNonDir, CopyUIDGID: s.CopyUIDGID, Staged: true, Last: i == last})
			if err != nil {
				a.log.Warn("staged archive not applied", "container", id, "path", s.Path, "err", err)
			}
		}
		for i, image := range restored {
			err := a.putLayer(ctx, id, image, len(staged)+i == last)
			if err != nil {
				a.log.Warn("an earlier run's changes not restored", "container", id, "err", err)
			}
		}
	}()
	return true
}

// putLayer applies one restored layer at the container's root, owners kept, whiteouts deleting. When the layer
// cannot be read, an empty archive still carries Last, so the agent does not wait for it.
func (a *Agent) putLayer(ctx context.Context, id, image string, last bool) error {
	opts := agentlink.PutOptions{CopyUIDGID: true, Staged: true, Last: last, Layer: true}
	rc, err := a.o.Restored.OpenLayer(ctx, image)
	if err != nil {
		if last {
			_ = a.o.Link.ArchivePut(ctx, id, "/", bytes.NewReader(emptyTar), opts)
		}
		return err
	}
	defer rc.Close()
	return a.o.Link.ArchivePut(ctx, id, "/", rc, opts)
}

// emptyTar is a tar archive with no entries: two zero blocks.
var emptyTar = make([]byte, 1024)

// env is the agent's RUNSOCK_* environment for one start of c.
func (a *Agent) env(c *containers.Container, secret, run string) []string {
	env := []string{
		linkproto.EnvURL + "=" + a.o.URL,
		linkproto.EnvContainerID + "=" + c.ID,
		linkproto.EnvBootstrap + "=" + secret,
		linkproto.EnvRun + "=" + run,
	}
	if hc, ok := containers.HealthcheckOf(c); ok {
		env = append(env, linkproto.EnvHealth+"="+string(linkproto.EncodeMeta(linkproto.HealthSpec{Cmd: hc.Cmd, Interval: hc.Interval,
			Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: hc.Retries})))
	}
	var files []linkproto.FileBind
	for _, m := range c.Mounts {
		if m.File != "" {
			files = append(files, linkproto.FileBind{Path: m.Destination, Target: m.FileTarget()})
		}
	}
	fileBinds, _ := json.Marshal(files)
	for _, kv := range []struct {
		on       bool
		key, val string
	}{
		{len(files) > 0, linkproto.EnvFileBinds, string(fileBinds)},
		{a.o.CAPEM != "", linkproto.EnvCA, a.o.CAPEM},
		{a.o.Audience != "", linkproto.EnvAudience, a.o.Audience},
		{c.Config.OpenStdin, linkproto.EnvStdin, "1"},
		{c.Config.StdinOnce, linkproto.EnvStdinOnce, "1"},
		{c.Config.Tty, linkproto.EnvTTY, "1"},
		{c.Config.User != "", linkproto.EnvUser, c.Config.User},
		{len(c.HostConfig.GroupAdd) > 0, linkproto.EnvGroupAdd, strings.Join(c.HostConfig.GroupAdd, ",")},
		{c.Config.WorkingDir != "", linkproto.EnvWorkDir, c.Config.WorkingDir},
		{c.HostConfig.Init != nil && *c.HostConfig.Init, linkproto.EnvInit, "1"},
		{c.HostConfig.NetworkMode.IsNone(), linkproto.EnvNetworkNone, "1"},
		{len(c.DockerSockets()) > 0, linkproto.EnvDockerSocket, strings.Join(c.DockerSockets(), ":")},
		{onUserNetwork(c), linkproto.EnvPeers, "1"},
	} {
		if kv.on {
			env = append(env, kv.key+"="+kv.val)
		}
	}
	return env
}

// onUserNetwork reports whether c has an endpoint on a user-defined network, where its agent gets peers.
func onUserNetwork(c *containers.Container) bool {
	for name := range c.Networks {
		if container.NetworkMode(name).IsUserDefined() {
			return true
		}
	}
	return false
}

// randomHex is n random bytes in hex: a start's run ID (12), an exec ID (32, Docker's length).
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WaitConnected returns once id's agent is linked (containers.Agent).
func (a *Agent) WaitConnected(ctx context.Context, id string) error {
	return a.o.Link.WaitConnected(ctx, id)
}

// Signal sends sig to id's main process (containers.Agent).
func (a *Agent) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	return a.o.Link.Signal(ctx, id, sig)
}

// Pause stops every process of id but its agent (containers.Agent).
func (a *Agent) Pause(ctx context.Context, id string) error { return a.o.Link.Pause(ctx, id) }

// Unpause continues every process of id (containers.Agent).
func (a *Agent) Unpause(ctx context.Context, id string) error { return a.o.Link.Unpause(ctx, id) }

// Ended forgets the credentials and the link of id's run in execution, which has ended (containers.Agent).
func (a *Agent) Ended(id, execution string) {
	a.o.Credentials.ended(id, execution)
	a.o.Link.EndRun(id, execution)
}

// Forget drops what the Agent and the link remember about a removed container; its live output goes after
// livelogs.EndGrace (an attach or logs -f may still be reading the end of it).
func (a *Agent) Forget(id string) {
	a.o.Credentials.forget(id)
	a.o.Link.Forget(id)
	if a.o.Staged != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 30*time.Second)
			defer cancel()
			if err := a.o.Staged.Delete(ctx, id); err != nil {
				a.log.Warn("delete staged archives", "container", id, "err", err)
			}
		}()
	}
	if a.o.Logs == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx.Err() != nil { // closed: the deletion would be cancelled at once anyway
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-time.After(livelogs.EndGrace):
		case <-a.ctx.Done():
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 30*time.Second)
		defer cancel()
		if err := a.o.Logs.Delete(ctx, id); err != nil {
			a.log.Warn("delete live logs", "container", id, "err", err)
		}
	}()
}
