package dockerapi

import (
	"net/http"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Random host ports (-P, -p CPORT, HostPort "" or "0") are chosen by the owner's localproxy, which can bind them:
//
//	GET  /runsock/v1/containers/{id}/ports   → containers.PublishedPorts (409 when not running)
//	POST /runsock/v1/containers/{id}/ports   {"Execution":…, "Ports":[containers.PortAssignment…]} → the same
//
// localproxy/internal/ports is the only caller.

func (h *Handler) publishedPorts(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	pp, err := h.c.Published(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pp)
}

func (h *Handler) assignPorts(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var body struct {
		Execution string
		Ports     []containers.PortAssignment
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	pp, err := h.c.AssignPorts(r.Context(), p, r.PathValue("id"), body.Execution, body.Ports)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pp)
}
