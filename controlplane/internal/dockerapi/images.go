package dockerapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

var errNoImages = &errkind.Error{Msg: "images are not available on this control plane yet", Kind: errdefs.ErrUnavailable}

func (h *Handler) imageRoutes() {
	h.handle("POST /images/create", h.imagePull)
	h.handle("GET /images/json", h.imageList)
	h.handle("GET /images/{name...}", h.imageGet) // {name}/json: names contain slashes
	h.handle("POST /images/{name...}", h.imagePost)
	h.handle("DELETE /images/{name...}", h.imageDelete)
	h.handle("POST /images/prune", h.imagePrune)
}

func imagePtrs(list []image.Summary, err error) ([]*image.Summary, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*image.Summary, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out, nil
}

func (h *Handler) imagePull(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	q := r.URL.Query()
	from := q.Get("fromImage")
	if from == "" {
		return invalid("image import (fromSrc) is not supported; pull with fromImage")
	}
	if h.img == nil {
		return errNoImages
	}
	ref := from
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	started := false
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	err := h.img.Pull(r.Context(), p.Email, PullRequest{Ref: ref, Platform: q.Get("platform"), RegistryAuth: r.Header.Get("X-Registry-Auth")},
		func(m jsonstream.Message) error {
			if !started {
				started = true
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
			}
			if err := enc.Encode(m); err != nil {
				return err
			}
			return rc.Flush()
		})
	if err != nil && started {
		enc.Encode(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return nil
	}
	return err
}

func (h *Handler) imageList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.img == nil {
		return writeJSON(w, http.StatusOK, []image.Summary{})
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	list, err := h.img.List(r.Context(), p.Email, ImageListOptions{All: boolValue(r, "all"), Filters: filters, AllOwners: p.Admin})
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (h *Handler) imageGet(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	path := r.PathValue("name")
	if name, ok := strings.CutSuffix(path, "/history"); ok {
		return h.imageHistory(w, r, p, name)
	}
	if _, ok := strings.CutSuffix(path, "/get"); ok {
		return errNoSave
	}
	name, ok := strings.CutSuffix(path, "/json")
	if !ok {
		return errPageNotFound
	}
	if h.img == nil {
		return errNoImages
	}
	resp, err := h.img.Inspect(r.Context(), p.Email, name)
	if err != nil {
		return err
	}
	out, err := withKeys(resp, imageInspectKeys(resp.Size))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) imagePost(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if _, ok := strings.CutSuffix(r.PathValue("name"), "/push"); ok {
		return errNoPush
	}
	name, ok := strings.CutSuffix(r.PathValue("name"), "/tag")
	if !ok {
		return errPageNotFound
	}
	if h.img == nil {
		return errNoImages
	}
	repo := r.URL.Query().Get("repo")
	if repo == "" {
		return invalid("repository name must have at least one component")
	}
	if err := h.img.Tag(r.Context(), p.Email, name, repo, r.URL.Query().Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) imageDelete(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.img == nil {
		return errNoImages
	}
	resp, err := h.img.Delete(r.Context(), p.Email, r.PathValue("name"), ImageDeleteOptions{Force: boolValue(r, "force"), NoPrune: boolValue(r, "noprune")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) imagePrune(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.img == nil {
		return errNoImages
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	rep, err := h.img.Prune(r.Context(), p.Email, filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
