package dockerapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"

	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// RegistryBackend answers what Docker asks the registry directly, without an image being pulled, and the history
// of a pulled image (which reads its manifest there); controlplane/internal/images implements it.
type RegistryBackend interface {
	// Distribution is GET /distribution/{name}/json: the manifest's descriptor and platforms in the registry.
	Distribution(ctx context.Context, ref string) (registry.DistributionInspect, error)
	// History is GET /images/{name}/history for owner's image.
	History(ctx context.Context, owner, ref string) ([]image.HistoryResponseItem, error)
}

// What runsock does not do of Docker's image and registry work, each refused before anything happens, saying why.
var (
	errNoBuild = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock runs containers on Cloud Run Jobs and does not build images: build and push them elsewhere (Cloud Build, docker buildx against a registry), then pull"}
	errNoCommit = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock does not commit containers to images: a container's files are kept only to copy out (docker cp, diff, export)"}
	errNoPush = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock keeps no image layers, so it cannot push: push to Artifact Registry directly"}
	errNoSave = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock keeps no image layers, so it cannot save or load image archives: push them to a registry and pull"}
	errNoSearch = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock does not search Docker Hub: search at https://hub.docker.com"}
	errNoLogin = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock pulls with its own credentials (the team's Artifact Registry and public registries), so docker login is not needed, and credentials sent to it are not used"}
	errNoSession = &errkind.Error{Kind: errdefs.ErrNotImplemented,
		Msg: "runsock has no BuildKit session endpoint: it does not build images"}
)

func (h *Handler) registryRoutes() {
	h.handle("GET /distribution/{name...}", h.distribution) // {name}/json: names contain slashes
	unsupported := map[string]error{
		"POST /build": errNoBuild, "POST /commit": errNoCommit, "POST /session": errNoSession,
		"GET /images/get": errNoSave, "POST /images/load": errNoSave, "GET /images/search": errNoSearch,
		"POST /auth": errNoLogin,
	}
	for route, err := range unsupported {
		h.handle(route, func(w http.ResponseWriter, r *http.Request, p identity.Principal) error { return err })
	}
}

func (h *Handler) distribution(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok {
		return errPageNotFound
	}
	if h.registry == nil {
		return errNoImages
	}
	d, err := h.registry.Distribution(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (h *Handler) imageHistory(w http.ResponseWriter, r *http.Request, p identity.Principal, name string) error {
	if h.registry == nil {
		return errNoImages
	}
	hist, err := h.registry.History(r.Context(), p.Email, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, hist)
}

// errPageNotFound is the mux's own answer, for a wildcard route whose suffix names no endpoint.
var errPageNotFound = &errkind.Error{Msg: "page not found", Kind: errdefs.ErrNotFound}
