package dockerapi

import (
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

var errNoAgent = &kindError{msg: "exec needs the runsock agent, which this control plane does not run yet", kind: errdefs.ErrConflict}

func (h *Handler) execCreate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := h.c.Resolve(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !c.Running() {
		return &kindError{msg: "container " + c.ID + " is not running", kind: errdefs.ErrConflict}
	}
	if h.exec == nil {
		return errNoAgent
	}
	id, err := h.exec.ExecCreate(r.Context(), c.Owner, c.ID, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, common.IDResponse{ID: id})
}

func (h *Handler) execStart(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.exec == nil {
		return errNoAgent
	}
	var req container.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	// TODO(agent): inspect first (404 before hijacking), then hijack/full-duplex exactly as attach does and call
	// ExecStart with the connection's streams.
	return &kindError{msg: "exec start is not wired yet", kind: errdefs.ErrNotImplemented}
}

func (h *Handler) execInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.exec == nil {
		return errNoAgent
	}
	resp, err := h.exec.ExecInspect(r.Context(), p.Email, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) execResize(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.exec == nil {
		return errNoAgent
	}
	hgt, err := intValue(r, "h")
	if err != nil {
		return err
	}
	wid, err := intValue(r, "w")
	if err != nil {
		return err
	}
	if hgt == nil || wid == nil || *hgt < 0 || *wid < 0 {
		return invalid("resize needs h and w")
	}
	if err := h.exec.ExecResize(r.Context(), p.Email, r.PathValue("id"), uint(*hgt), uint(*wid)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
