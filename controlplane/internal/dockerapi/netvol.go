package dockerapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// netRegistry answers the network routes. Cloud Run gives every task its own network; runsock has exactly the
// three built-in networks and refuses to create others (a container asking for one is refused at create).
// TODO(store): volume records in Firestore once Cloud Run volumes are mapped; until then volumes are refused.
type netRegistry struct {
	once    sync.Once
	builtin map[string]network.Inspect
}

func newNetRegistry() netRegistry { return netRegistry{} }

func (n *netRegistry) all() map[string]network.Inspect {
	n.once.Do(func() {
		n.builtin = map[string]network.Inspect{}
		for _, name := range []string{"bridge", "host", "none"} {
			drv := name
			if name == "none" {
				drv = "null"
			}
			id := builtinNetworkID(name)
			n.builtin[name] = network.Inspect{Network: network.Network{Name: name, ID: id, Scope: "local", Driver: drv,
				Created: time.Unix(0, 0).UTC(), Options: map[string]string{}, Labels: map[string]string{}}}
		}
	})
	return n.builtin
}

func (h *Handler) netVolRoutes() {
	h.handle("GET /networks", h.networkList)
	h.handle("GET /networks/{id}", h.networkInspect)
	h.handle("POST /networks/create", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return invalid("runsock runs containers on Cloud Run Jobs, which cannot create networks; use bridge or host")
	})
	h.handle("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		if _, ok := h.nets.all()[r.PathValue("id")]; ok {
			return &errkind.Error{Msg: r.PathValue("id") + " is a pre-defined network and cannot be removed", Kind: errdefs.ErrPermissionDenied}
		}
		return &errkind.Error{Msg: "network " + r.PathValue("id") + " not found", Kind: errdefs.ErrNotFound}
	})
	h.handle("POST /networks/prune", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: []string{}})
	})
	h.handle("GET /volumes", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}})
	})
	h.handle("POST /volumes/create", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return invalid("runsock runs containers on Cloud Run Jobs and cannot give them volumes yet")
	})
	h.handle("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return &errkind.Error{Msg: "get " + r.PathValue("name") + ": no such volume", Kind: errdefs.ErrNotFound}
	})
	h.handle("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return &errkind.Error{Msg: "get " + r.PathValue("name") + ": no such volume", Kind: errdefs.ErrNotFound}
	})
	h.handle("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
		return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: []string{}})
	})
}

func (h *Handler) networkList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	out := []network.Summary{}
	for _, name := range []string{"bridge", "host", "none"} {
		out = append(out, network.Summary{Network: h.nets.all()[name].Network})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) networkInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	id := r.PathValue("id")
	for name, n := range h.nets.all() {
		if id == name || id == n.ID || (len(id) >= 1 && len(id) < 64 && n.ID[:len(id)] == id) {
			return writeJSON(w, http.StatusOK, n)
		}
	}
	return &errkind.Error{Msg: "network " + id + " not found", Kind: errdefs.ErrNotFound}
}
