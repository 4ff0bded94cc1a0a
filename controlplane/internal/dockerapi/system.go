package dockerapi

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

func (h *Handler) ping(w http.ResponseWriter, r *http.Request, _ identity.Principal) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("OK"))
	}
	return nil
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request, _ identity.Principal) error {
	commit, built := buildInfo()
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "runsock (Cloud Run Jobs)"},
		Version:       "runsock-0.1",
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            "linux",
		Arch:          "amd64",
		GoVersion:     runtime.Version(),
		KernelVersion: "gVisor (Cloud Run)",
		GitCommit:     commit,
		BuildTime:     built,
	}
	// One component, as Docker lists its engine first: the control plane (containerd and runc are Cloud Run's).
	v.Components = []system.ComponentVersion{{Name: "Engine", Version: v.Version, Details: map[string]string{
		"ApiVersion": v.APIVersion, "Arch": v.Arch, "BuildTime": v.BuildTime, "Experimental": "false",
		"GitCommit": v.GitCommit, "GoVersion": v.GoVersion, "KernelVersion": v.KernelVersion,
		"MinAPIVersion": v.MinAPIVersion, "Os": v.Os}}}
	out, err := withKeys(v, map[string]any{"GitCommit": "", "BuildTime": ""})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// buildInfo is the control plane's commit and its time, from the Go build's VCS stamp ("" when not built from a
// checkout).
func buildInfo() (commit, at string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	return commit, at
}

func (h *Handler) infoHandler(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	list, err := h.c.List(r.Context(), p, containers.ListOptions{All: true})
	if err != nil {
		return err
	}
	info := system.Info{
		ID: "runsock:" + h.info.Project + ":" + h.info.Region, Name: "runsock " + h.info.Project + "/" + h.info.Region,
		Containers: len(list), ServerVersion: "runsock-0.1", OperatingSystem: "Cloud Run Jobs (" + h.info.Region + ")",
		OSType: "linux", Architecture: "x86_64", NCPU: h.info.MaxCPU, MemTotal: h.info.MaxMemory, Driver: "cloudrun",
		LoggingDriver: containers.DefaultLogDriver, CgroupDriver: "none", KernelVersion: "gVisor", IndexServerAddress: "https://index.docker.io/v1/",
		SystemTime:   time.Now().Format(time.RFC3339Nano),
		Labels:       []string{"runsock.project=" + h.info.Project, "runsock.region=" + h.info.Region},
		DriverStatus: [][2]string{{"Backend", "Cloud Run Jobs"}, {"Project", h.info.Project}, {"Region", h.info.Region}},
		// What a container may name: the built-in networks, and the log drivers (recorded; output is kept alike).
		Plugins:  system.PluginsInfo{Volume: []string{}, Network: []string{"bridge", "host", "null"}, Log: containers.LogDrivers},
		Runtimes: map[string]system.RuntimeWithStatus{"cloudrun": {Runtime: system.Runtime{Path: "cloudrun"}}}, DefaultRuntime: "cloudrun",
		RegistryConfig: &registry.ServiceConfig{InsecureRegistryCIDRs: []netip.Prefix{}, Mirrors: []string{},
			IndexConfigs: map[string]*registry.IndexInfo{"docker.io": {Name: "docker.io", Mirrors: []string{}, Secure: true, Official: true}}},
		SecurityOptions: []string{},
	}
	for _, c := range list {
		if c.Running() {
			info.ContainersRunning++
		} else {
			info.ContainersStopped++
		}
	}
	if h.img != nil {
		if imgs, err := h.img.List(r.Context(), p.Email, ImageListOptions{}); err == nil {
			info.Images = len(imgs)
		}
	}
	out, err := withKeys(info, infoKeys)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) diskUsage(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	list, err := h.c.List(r.Context(), p, containers.ListOptions{All: true})
	if err != nil {
		return err
	}
	// API ≤ 1.51's shape (the docker CLI 28 reads these fields), with moby's item types.
	var du struct {
		LayersSize int64
		Images     []*image.Summary
		Containers []*container.Summary
		Volumes    []*volume.Volume
		BuildCache []any
	}
	du.Images, du.Containers, du.Volumes, du.BuildCache = []*image.Summary{}, []*container.Summary{}, []*volume.Volume{}, []any{}
	for _, c := range list {
		sc := summary(c)
		sc.Mounts = h.mountPoints(c)
		du.Containers = append(du.Containers, sc)
	}
	if du.Volumes, err = h.diskUsageVolumes(r.Context(), p, list); err != nil {
		return err
	}
	if h.img != nil {
		if du.Images, err = imagePtrs(h.img.List(r.Context(), p.Email, ImageListOptions{})); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, du)
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	q := r.URL.Query()
	now := time.Now()
	var since, until time.Time
	var err error
	for k, dst := range map[string]*time.Time{"since": &since, "until": &until} {
		if v := q.Get(k); v != "" {
			if *dst, err = parseTime(k, v, now); err != nil {
				return err
			}
		}
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range filters {
		switch k {
		case "type", "container", "event", "label", "image", "scope", "volume", containers.OwnerFilter:
		default:
			return invalid("invalid filter '%s'", k)
		}
	}
	scope, err := containers.ScopeFor(p, filters[containers.OwnerFilter], true)
	if err != nil {
		return err
	}
	history, live, err := h.c.Events(r.Context(), scope.Owner, since, until)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	send := func(e containers.Event) bool {
		if !scope.Covers(e.Owner) || !eventMatches(e, filters) {
			return true
		}
		if enc.Encode(eventMessage(e)) != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for _, e := range history {
		if !send(e) {
			return nil
		}
	}
	if live == nil { // until has passed: history is everything (ranging a nil channel would block forever)
		return nil
	}
	for e := range live {
		if !send(e) {
			return nil
		}
	}
	return nil
}

func eventMessage(e containers.Event) events.Message {
	return events.Message{Type: events.Type(e.Type), Action: events.Action(e.Action),
		Actor: events.Actor{ID: e.ActorID, Attributes: e.Attributes}, Scope: "local",
		Time: e.Time.Unix(), TimeNano: e.Time.UnixNano()}
}

func eventMatches(e containers.Event, f map[string][]string) bool {
	in := func(k string, vals ...string) bool {
		if len(f[k]) == 0 {
			return true
		}
		for _, want := range f[k] {
			for _, v := range vals {
				if v != "" && (want == v || (k == "container" && len(want) >= 1 && len(v) == 64 && v[:min(len(want), 64)] == want)) {
					return true
				}
			}
		}
		return false
	}
	// A volume event names its container in an attribute (mount, unmount), a container event is its actor.
	ctr := []string{e.Attributes["container"]}
	vol := ""
	if e.Type == "container" {
		ctr = []string{e.ActorID, e.Attributes["name"]}
	} else if e.Type == "volume" {
		vol = e.ActorID
	}
	if !in("type", e.Type) || !in("event", e.Action) || !in("container", ctr...) || !in("image", e.Attributes["image"]) || !in("volume", vol) {
		return false
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := e.Attributes[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

// buildPrune answers POST /build/prune, the last step of `docker system prune`: runsock builds nothing, so there is
// no build cache, and the answer is that nothing was removed (without it, system prune fails after doing its work).
func (h *Handler) buildPrune(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if _, err := parseFilters(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, build.CachePruneReport{CachesDeleted: []string{}})
}
