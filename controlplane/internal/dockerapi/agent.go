package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/detachkeys"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/proxyproto"
)

// This file serves the container routes that go through the runsock agent: attach with input, top, stats, resize,
// archive (docker cp) and published-port tunnels.

// attachAgent is containerAttach for a container with the agent: output from its live logs, stdin to its main
// process, over a hijacked or full-duplex stream. Framed (localproxy over HTTP/2), it can be resumed after the
// request timeout cut it: the token names the output cursor and the stdin session (see resume.go).
func (h *Handler) attachAgent(w http.ResponseWriter, r *http.Request, c *containers.Container) error {
	tok, err := resumeToken(r, "attach")
	if err != nil {
		return err
	}
	keys, err := detachkeys.Parse(r.URL.Query().Get("detachKeys")) // checked by containerAttach
	if err != nil {
		return invalid("Invalid detach keys (%s) provided", r.URL.Query().Get("detachKeys"))
	}
	opts := agentsessions.AttachOptions{Logs: boolValue(r, "logs"), Stream: boolValue(r, "stream"),
		Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), DetachKeys: keys}
	var stdinAt int64
	if tok != nil {
		if tok.Get("id") != c.ID {
			return notFoundContainer(r.PathValue("id"))
		}
		next, err := tokenUint(r, tok, "seq", true)
		if err != nil {
			return err
		}
		opts.Resume = &agentsessions.AttachCursor{Next: next, SkipRun: tok.Get("skip")}
		if stdinAt, err = strconv.ParseInt(r.Header.Get(proxyproto.StdinAtHeader), 10, 64); err != nil && boolValue(r, "stdin") {
			return invalid("a resumed attach needs %s", proxyproto.StdinAtHeader)
		}
	}
	framed := r.ProtoMajor >= 2 && resumable(w, r)
	var session string
	var sess *stdinSession
	if framed && boolValue(r, "stdin") && c.Config.OpenStdin {
		if session, sess, err = h.stdin.open(r.Context(), tok.Get("in")); err != nil {
			return nil // the client went away while the cut stream let go
		}
		defer sess.release()
	}
	d, err := h.openDuplex(w, r, streamType(c.Config.Tty))
	if err != nil {
		return nil
	}
	defer d.closeWrite()
	mw := &muxWriter{w: d.out, raw: c.Config.Tty, framed: framed}
	defer mw.close()
	aio := agentsessions.AttachIO{Stdout: streamWriter{mw, 1}, Stderr: streamWriter{mw, 2}}
	switch {
	case !boolValue(r, "stdin"):
		d.drainInput()
	case sess != nil:
		sess.held(d.cancel)
		aio.Stdin = newStdinReader(d.in, sess, stdinAt, func(n int64) {
			mw.frame(proxyproto.KindStdinAck, strconv.FormatInt(n, 10), nil)
		})
	default:
		aio.Stdin = d.in
	}
	if framed {
		opts.Resumable = sess != nil
		opts.Started = func(cur agentsessions.AttachCursor) {
			mw.frame(proxyproto.KindToken, "", []byte(attachToken(c.ID, cur, session)))
		}
	}
	err = h.agent.AttachAgent(d.ctx, c, opts, aio)
	if err != nil && d.ctx.Err() == nil {
		h.log.Warn("attach ended with an error", "container", c.ID, "err", err)
	}
	if err == nil && d.ctx.Err() == nil {
		mw.end(nil)
	}
	return nil
}

func (h *Handler) containerTop(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	top, err := h.agent.Top(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, top)
}

// needAgent answers for a control plane without the agent (after the ownership check).
func (h *Handler) needAgent(r *http.Request, p identity.Principal) error {
	if h.agent != nil {
		return nil
	}
	if _, err := h.c.Resolve(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	return errNoAgent
}

// containerStats streams a sample a second (stream=true, the default), or answers one: with one-shot at once,
// otherwise after a second sample so the CPU percentage can be computed, as Docker does.
func (h *Handler) containerStats(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("id")
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	first, err := h.agent.Stats(ctx, p, id, nil)
	if err != nil {
		return err
	}
	if !stream {
		if !boolValue(r, "one-shot") {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			if next, err := h.agent.Stats(ctx, p, id, &first); err == nil {
				first = next
			}
		}
		return writeJSON(w, http.StatusOK, first)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	prev := first
	prev.PreCPUStats = container.CPUStats{}
	for {
		if enc.Encode(prev) != nil || rc.Flush() != nil {
			return nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
		next, err := h.agent.Stats(ctx, p, id, &prev)
		if err != nil {
			return nil // the container ended: the stream ends, as Docker's does
		}
		prev = next
	}
}

func (h *Handler) containerResize(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	hgt, wid, err := size(r)
	if err != nil {
		return err
	}
	if err := h.agent.Resize(r.Context(), p, r.PathValue("id"), hgt, wid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func archivePath(r *http.Request) (string, error) {
	path := r.URL.Query().Get("path")
	if path == "" {
		return "", invalid("bad parameter: path cannot be empty")
	}
	return path, nil
}

func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func (h *Handler) archiveHead(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	path, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := h.agent.ArchiveStat(r.Context(), p, r.PathValue("id"), path)
	if err != nil {
		return err
	}
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// archiveGet streams the tar straight from the agent to the client: memory stays flat whatever the size.
func (h *Handler) archiveGet(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	path, err := archivePath(r)
	if err != nil {
		return err
	}
	st, tr, err := h.agent.ArchiveGet(r.Context(), p, r.PathValue("id"), path)
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, tr); err != nil && r.Context().Err() == nil {
		h.log.Warn("archive download ended early", "container", r.PathValue("id"), "err", err)
	}
	return nil
}

func (h *Handler) archivePut(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	path, err := archivePath(r)
	if err != nil {
		return err
	}
	err = h.agent.ArchivePut(r.Context(), p, r.PathValue("id"), path, r.Body,
		boolValue(r, "noOverwriteDirNonDir"), boolValue(r, "copyUIDGID"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) containerChanges(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	changes, err := h.agent.Changes(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, changes)
}

// containerExport streams the container's flattened filesystem, as archiveGet streams a path.
func (h *Handler) containerExport(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	rc, err := h.agent.Export(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		h.log.Warn("export ended early", "container", r.PathValue("id"), "err", err)
	}
	return nil
}

// tunnel carries one published-port connection from localproxy to 127.0.0.1:port inside the container, as a
// full-duplex HTTP/2 request (request body in, response body out). The 200 is sent once the agent has connected
// to the port, so a refused port is an HTTP error.
func (h *Handler) tunnel(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if r.ProtoMajor < 2 {
		return &errkind.Error{Msg: "port tunnels need HTTP/2 (use localproxy)", Kind: errdefs.ErrInvalidArgument}
	}
	port, err := strconv.Atoi(r.URL.Query().Get("port"))
	if err != nil || port <= 0 || port > 65535 {
		return invalid("invalid port %q", r.URL.Query().Get("port"))
	}
	if err := h.needAgent(r, p); err != nil {
		return err
	}
	c, err := h.agent.TunnelCheck(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	conn := &tunnelConn{in: r.Body, w: w, rc: rc}
	err = h.agent.Tunnel(r.Context(), c, port, conn)
	if err != nil && !conn.began() {
		return err
	}
	return nil
}

// tunnelConn answers 200 when the tunnel starts reading (the agent has connected to the port).
type tunnelConn struct {
	in    io.Reader
	w     http.ResponseWriter
	rc    *http.ResponseController
	once  sync.Once
	mu    sync.Mutex
	begun bool
}

func (t *tunnelConn) begin() {
	t.once.Do(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.w.Header().Set("Content-Type", "application/octet-stream")
		t.w.WriteHeader(http.StatusOK)
		_ = t.rc.Flush()
		t.begun = true
	})
}

func (t *tunnelConn) began() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.begun
}

func (t *tunnelConn) Read(p []byte) (int, error) {
	t.begin()
	return t.in.Read(p)
}

func (t *tunnelConn) Write(p []byte) (int, error) {
	t.begin()
	n, err := t.w.Write(p)
	if err == nil {
		err = t.rc.Flush()
	}
	return n, err
}
