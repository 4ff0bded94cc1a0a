package dockerapi

import (
	"context"
	"io"
	"net/http"

	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/volumes"
	"github.com/runsock/runsock/proxyproto"
)

// BindBackend stages the client's bind sources and hands their changes back (proxyproto's binds contract); every
// call is scoped to the caller's own stagings.
type BindBackend interface {
	StageBind(ctx context.Context, owner string, r io.Reader, file bool) (string, error)
	BindChanges(ctx context.Context, owner, id string) ([]volumes.BindChange, error)
	BindFile(ctx context.Context, owner, id, name string) (io.ReadCloser, error)
	BindSynced(ctx context.Context, owner, id string) error
	RemoveBind(ctx context.Context, owner, id string) error
}

var _ BindBackend = (*volumes.Service)(nil)

func (h *Handler) bindRoutes() {
	h.handleBody("POST "+proxyproto.BindsPath, archiveBody, h.bindStage)
	h.handle("GET "+proxyproto.BindsPath+"/{id}/changes", h.bindChanges)
	h.handle("GET "+proxyproto.BindsPath+"/{id}/files", h.bindFile)
	h.handle("POST "+proxyproto.BindsPath+"/{id}/synced", h.bindSynced)
	h.handle("DELETE "+proxyproto.BindsPath+"/{id}", h.bindRemove)
}

func (h *Handler) bindBackend() (BindBackend, error) {
	if h.binds == nil {
		return nil, notImplemented("bind mounts need the volumes bucket, which is not configured on this control plane")
	}
	return h.binds, nil
}

func (h *Handler) bindStage(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	b, err := h.bindBackend()
	if err != nil {
		return err
	}
	id, err := b.StageBind(r.Context(), p.Email, r.Body, r.URL.Query().Get("file") == "1")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

func (h *Handler) bindChanges(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	b, err := h.bindBackend()
	if err != nil {
		return err
	}
	ch, err := b.BindChanges(r.Context(), p.Email, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ch)
}

func (h *Handler) bindFile(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	b, err := h.bindBackend()
	if err != nil {
		return err
	}
	rc, err := b.BindFile(r.Context(), p.Email, r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
	return nil
}

func (h *Handler) bindSynced(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	b, err := h.bindBackend()
	if err != nil {
		return err
	}
	if err := b.BindSynced(r.Context(), p.Email, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) bindRemove(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	b, err := h.bindBackend()
	if err != nil {
		return err
	}
	if err := b.RemoveBind(r.Context(), p.Email, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
