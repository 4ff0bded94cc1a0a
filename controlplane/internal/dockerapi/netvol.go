package dockerapi

import (
	"context"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// NetworkBackend serves the /networks routes; *networks.Service implements it. Every call acts on the caller's own
// networks (the built-ins bridge, host and none are everyone's); another user's network is "not found".
type NetworkBackend interface {
	Create(ctx context.Context, p identity.Principal, req network.CreateRequest) (network.CreateResponse, error)
	List(ctx context.Context, p identity.Principal, filters map[string][]string) ([]network.Summary, error)
	Inspect(ctx context.Context, p identity.Principal, ref string) (network.Inspect, error)
	Remove(ctx context.Context, p identity.Principal, ref string) error
	Prune(ctx context.Context, p identity.Principal, filters map[string][]string) ([]string, error)
	Connect(ctx context.Context, p identity.Principal, ref string, req network.ConnectRequest) error
	Disconnect(ctx context.Context, p identity.Principal, ref string, req network.DisconnectRequest) error
}

func (h *Handler) netVolRoutes() {
	h.handle("GET /networks", h.networkList)
	h.handle("GET /networks/{id}", h.networkInspect)
	h.handle("POST /networks/create", h.networkCreate)
	h.handle("DELETE /networks/{id}", h.networkRemove)
	h.handle("POST /networks/prune", h.networkPrune)
	h.handle("POST /networks/{id}/connect", h.networkConnect)
	h.handle("POST /networks/{id}/disconnect", h.networkDisconnect)
	h.volumeRoutes()
	h.bindRoutes()
}

// nets is the network backend, or an answer saying there is none.
func (h *Handler) netsOrErr() (NetworkBackend, error) {
	if h.nets == nil {
		return nil, &errkind.Error{Msg: "networks are not available on this control plane", Kind: errdefs.ErrNotImplemented}
	}
	return h.nets, nil
}

func (h *Handler) networkList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	out, err := nb.List(r.Context(), p, filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) networkInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	n, err := nb.Inspect(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (h *Handler) networkCreate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	var req network.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	out, err := nb.Create(r.Context(), p, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) networkRemove(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	if err := nb.Remove(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) networkPrune(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	deleted, err := nb.Prune(r.Context(), p, filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: deleted})
}

func (h *Handler) networkConnect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var req network.ConnectRequest
	return h.networkEndpoint(w, r, &req, &req.Container, func(nb NetworkBackend) error {
		return nb.Connect(r.Context(), p, r.PathValue("id"), req)
	})
}

func (h *Handler) networkDisconnect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var req network.DisconnectRequest
	return h.networkEndpoint(w, r, &req, &req.Container, func(nb NetworkBackend) error {
		return nb.Disconnect(r.Context(), p, r.PathValue("id"), req)
	})
}

// networkEndpoint serves connect and disconnect, which differ only in their body's type and the backend call: it
// decodes the body into req, refuses an empty *container (where the body names it) and calls apply.
func (h *Handler) networkEndpoint(w http.ResponseWriter, r *http.Request, req any, container *string, apply func(NetworkBackend) error) error {
	nb, err := h.netsOrErr()
	if err != nil {
		return err
	}
	if err := decodeBody(r, req); err != nil {
		return err
	}
	if *container == "" {
		return invalid("container name or ID cannot be empty")
	}
	if err := apply(nb); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
