package dockerapi

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/proxyproto"
)

func (h *Handler) containerCreate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var body struct {
		container.Config
		HostConfig       *container.HostConfig
		NetworkingConfig *network.NetworkingConfig
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	req := containers.CreateRequest{Name: r.URL.Query().Get("name"), Config: body.Config, Networking: body.NetworkingConfig}
	if body.HostConfig != nil {
		req.HostConfig = *body.HostConfig
	}
	if v := r.Header.Get(proxyproto.StagedBindsHeader); v != "" {
		staged, err := proxyproto.DecodeStagedBinds(v)
		if err != nil {
			return invalid("invalid %s header: %v", proxyproto.StagedBindsHeader, err)
		}
		req.StagedBinds = staged
	}
	c, err := h.c.Create(r.Context(), p, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: []string{}})
}

func (h *Handler) containerList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	limit, err := intValue(r, "limit")
	if err != nil {
		return err
	}
	opts := containers.ListOptions{All: boolValue(r, "all"), Filters: filters}
	if limit != nil {
		opts.Limit = *limit
	}
	list, err := h.c.List(r.Context(), p, opts)
	if err != nil {
		return err
	}
	out := make([]*container.Summary, 0, len(list))
	for _, c := range list {
		sc := summary(c)
		sc.Mounts = h.mountPoints(c)
		out = append(out, sc)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) containerInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	c, err := h.c.Resolve(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	ic := inspect(c)
	ic.Mounts = h.mountPoints(c)
	out, err := withKeys(ic, containerInspectKeys())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) containerStart(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.c.Start(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerStop(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	t, err := intValue(r, "t")
	if err != nil {
		return err
	}
	if err := h.c.Stop(r.Context(), p, r.PathValue("id"), t, r.URL.Query().Get("signal")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerKill(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.c.Kill(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerPause(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.c.Pause(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerUnpause(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.c.Unpause(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerRestart(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	t, err := intValue(r, "t")
	if err != nil {
		return err
	}
	if err := h.c.Restart(r.Context(), p, r.PathValue("id"), t, r.URL.Query().Get("signal")); err != nil {
		return err
	}
	return noContent(w)
}

// containerUpdate is docker update: the restart policy and resources; warnings say what applies only later.
func (h *Handler) containerUpdate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var body container.UpdateConfig
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	warnings, err := h.c.Update(r.Context(), p, r.PathValue("id"), body)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
}

// containerWait checks the container, flushes the headers (the CLI waits for them before it starts the
// container), then blocks. A client that goes away ends the wait harmlessly. Framed (localproxy), the result
// travels in the end frame, after a token that lets localproxy re-issue a wait cut by the request timeout.
func (h *Handler) containerWait(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	tok, err := resumeToken(r, "wait")
	if err != nil {
		return err
	}
	var resume *containers.WaitCursor
	if tok != nil {
		since, err := tokenTime(tok, "since")
		if err != nil {
			return err
		}
		resume = &containers.WaitCursor{ID: tok.Get("id"), Since: since}
	}
	ch, cur, err := h.c.Wait(r.Context(), p, r.PathValue("id"), container.WaitCondition(r.URL.Query().Get("condition")), resume)
	if err != nil {
		return err
	}
	framed := resumable(w, r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	mw := &muxWriter{w: w, flush: rc.Flush, raw: true, framed: framed}
	defer mw.close()
	mw.frame(proxyproto.KindToken, "", []byte(waitToken(cur)))
	res, ok := <-ch
	if !ok {
		return nil
	}
	resp := container.WaitResponse{StatusCode: int64(res.ExitCode)}
	if res.Error != "" {
		resp.Error = &container.WaitExitError{Message: res.Error}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if framed {
		mw.end(b)
		return nil
	}
	_, err = w.Write(b)
	return err
}

func (h *Handler) containerDelete(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if boolValue(r, "link") {
		return invalid("links are not supported")
	}
	if err := h.c.Remove(r.Context(), p, r.PathValue("id"), boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) containerPrune(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	rep, err := h.c.Prune(r.Context(), p, filters)
	if err != nil {
		return err
	}
	if rep.ContainersDeleted == nil {
		rep.ContainersDeleted = []string{}
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (h *Handler) containerRename(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if err := h.c.Rename(r.Context(), p, r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		return err
	}
	return noContent(w)
}
