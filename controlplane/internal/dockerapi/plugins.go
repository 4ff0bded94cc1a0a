package dockerapi

import (
	"net/http"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/plugin"

	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Docker Engine plugins are daemon extensions (volume, network, log drivers) running beside dockerd; a Cloud Run
// Job has no daemon to extend, so runsock has none and can install none. The routes answer as a Docker Engine with
// no plugin installed answers (checked on the reference engine): an empty list, and 404 `plugin "NAME" not found`
// for a named one. Installing (pull, create, privileges of a remote one) is refused with 501.

var errNoPlugins = &errkind.Error{Kind: errdefs.ErrNotImplemented,
	Msg: "runsock runs containers as Cloud Run Job executions, which have no Docker Engine to extend: plugins cannot be installed"}

func pluginNotFound(name string) error {
	return &errkind.Error{Kind: errdefs.ErrNotFound, Msg: "plugin " + strconv.Quote(name) + " not found"}
}

func (h *Handler) pluginRoutes() {
	h.handle("GET /plugins", h.pluginList)
	for _, route := range []string{"GET /plugins/{name}/json", "DELETE /plugins/{name}", "POST /plugins/{name}/enable",
		"POST /plugins/{name}/disable", "POST /plugins/{name}/upgrade", "POST /plugins/{name}/push", "POST /plugins/{name}/set"} {
		h.handle(route, func(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
			return pluginNotFound(r.PathValue("name"))
		})
	}
	for _, route := range []string{"GET /plugins/privileges", "POST /plugins/pull", "POST /plugins/create"} {
		h.handle(route, func(w http.ResponseWriter, r *http.Request, p identity.Principal) error { return errNoPlugins })
	}
}

// pluginList is GET /plugins: none, after checking the filters as Docker does (only "capability" and "enabled").
func (h *Handler) pluginList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range filters {
		if k != "capability" && k != "enabled" {
			return invalid("Invalid filter '%s'", k)
		}
	}
	return writeJSON(w, http.StatusOK, plugin.ListResponse{})
}
