package dockerapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/proxyproto"
)

var errNoAgent = &errkind.Error{Msg: "exec, attach input, cp, top and stats need the runsock agent, which this control plane does not run", Kind: errdefs.ErrConflict}

func (h *Handler) execCreate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if h.agent == nil {
		if _, err := h.c.Resolve(r.Context(), p, r.PathValue("id")); err != nil {
			return err
		}
		return errNoAgent
	}
	id, err := h.agent.ExecCreate(r.Context(), p, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, common.IDResponse{ID: id})
}

// execStart checks the exec (404/409 before hijacking), then runs it over a hijacked connection (HTTP/1.1) or a
// full-duplex HTTP/2 request, or in the background when detached.
func (h *Handler) execStart(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.agent == nil {
		return errNoAgent
	}
	var req container.ExecStartRequest
	if err := decodeStartBody(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := h.agent.ExecCheck(r.Context(), p, id); err != nil {
		return err
	}
	// As Docker decides it: the start's Tty (not the create's) makes the stream raw; without it, multiplexed.
	tty := req.Tty
	if req.Detach {
		if err := h.agent.ExecStart(r.Context(), p, id, req, agentsessions.ExecIO{}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Framed (localproxy), the natural end is explicit, so localproxy can tell a session the request timeout cut
	// (an exec cannot be resumed: its process's output is not kept) and say so.
	framed := r.ProtoMajor >= 2 && resumable(w, r)
	ctype := streamType(tty)
	if r.ProtoMajor < 2 && r.Header.Get("Upgrade") == "" {
		ctype = streamType(true) // Docker names a stream answered without an upgrade raw, whatever it holds
	}
	d, err := h.openDuplex(w, r, ctype)
	if err != nil {
		return nil
	}
	defer d.closeWrite()
	mw := &muxWriter{w: d.out, raw: tty, framed: framed}
	defer mw.close()
	err = h.agent.ExecStart(d.ctx, p, id, req, agentsessions.ExecIO{Stdin: d.in, Stdout: streamWriter{mw, 1}, Stderr: streamWriter{mw, 2}})
	if err != nil && d.ctx.Err() == nil {
		h.log.Warn("exec ended with an error", "exec", id, "err", err)
		// The status line is gone: the error can only be shown as output, on stdout as Docker does.
		streamWriter{mw, 1}.Write([]byte(err.Error() + "\r\n"))
	}
	if d.ctx.Err() == nil {
		mw.end(nil)
	}
	return nil
}

func (h *Handler) execInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.agent == nil {
		return errNoAgent
	}
	resp, err := h.agent.ExecInspect(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := withKeys(resp, execInspectKeys)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) execResize(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.agent == nil {
		return errNoAgent
	}
	hgt, wid, err := size(r)
	if err != nil {
		return err
	}
	if err := h.agent.ExecResize(r.Context(), p, r.PathValue("id"), hgt, wid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// size reads a resize's h and w as Docker's Uint32Value does: each must be there, a decimal within 0..2^32-1.
func size(r *http.Request) (uint, uint, error) {
	q := r.URL.Query()
	var dims [2]uint
	for i, k := range []struct{ key, name string }{{"h", "height"}, {"w", "width"}} {
		v := q.Get(k.key)
		digits, negative := strings.CutPrefix(v, "-")
		if digits == "" || digits[0] == '+' {
			return 0, 0, invalid("invalid resize %s %q: %v", k.name, v, strconv.ErrSyntax)
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return 0, 0, invalid("invalid resize %s %q: %v", k.name, v, errors.Unwrap(err))
		}
		if negative {
			return 0, 0, invalid("invalid resize %s %q: %v", k.name, v, strconv.ErrRange)
		}
		dims[i] = uint(n)
	}
	return dims[0], dims[1], nil
}

// decodeStartBody decodes the JSON body of a request that may carry stdin after it. With proxyproto.StdinOffsetHeader
// (localproxy over HTTP/2, where there is no Upgrade: the body is the client's JSON followed directly by stdin) it
// reads exactly that many bytes, leaving the rest of the body as stdin; without it the body is only JSON, at most
// maxStartBody (over HTTP/1.1 stdin follows on the hijacked connection; over HTTP/2 localproxy sends the header
// whenever stdin follows).
func decodeStartBody(r *http.Request, v any) error {
	raw := r.Header.Get(proxyproto.StdinOffsetHeader)
	if raw == "" {
		if r.Body != nil {
			r.Body = struct {
				io.Reader
				io.Closer
			}{newLimitReader(r.Body, maxStartBody), r.Body}
		}
		return decodeBody(r, v)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > maxStartBody {
		return invalid("invalid %s: %q", proxyproto.StdinOffsetHeader, raw)
	}
	if n == 0 {
		return nil
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return invalid("request body shorter than %s: %v", proxyproto.StdinOffsetHeader, err)
	}
	if err := json.Unmarshal(buf, v); err != nil {
		return invalid("invalid JSON: %v", err)
	}
	return nil
}
