package dockerapi

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// VolumeBackend serves the /volumes routes; *volumes.Service implements it. owner is the caller's email: volumes are
// per user, another user's is "no such volume". Errors carry errdefs kinds (404 no such volume, 409 in use, 400).
type VolumeBackend interface {
	Create(ctx context.Context, owner string, req volumes.CreateRequest) (*volumes.Volume, error)
	Get(ctx context.Context, owner, name string) (*volumes.Volume, error)
	List(ctx context.Context, owner string, filters map[string][]string) ([]*volumes.Volume, error)
	Remove(ctx context.Context, owner, name string, force bool) error
	Prune(ctx context.Context, owner string, filters map[string][]string) ([]string, uint64, error)
	Usage(ctx context.Context, v *volumes.Volume) (int64, error)
	Mountpoint(v *volumes.Volume) string
	Bucket() string
}

var _ VolumeBackend = (*volumes.Service)(nil)

func (h *Handler) volumeRoutes() {
	h.handle("GET /volumes", h.volumeList)
	h.handle("POST /volumes/create", h.volumeCreate)
	h.handle("GET /volumes/{name}", h.volumeInspect)
	h.handle("DELETE /volumes/{name}", h.volumeDelete)
	h.handle("POST /volumes/prune", h.volumePrune)
}

func (h *Handler) renderVolume(v *volumes.Volume, size int64) volume.Volume {
	out := volume.Volume{Name: v.Name, Driver: volumes.Driver, Mountpoint: h.vol.Mountpoint(v), Labels: v.Labels,
		Options: v.Options, Scope: "local", CreatedAt: v.CreatedAt.Format(time.RFC3339)}
	if size >= 0 {
		out.UsageData = &volume.UsageData{Size: size, RefCount: -1}
	}
	return out
}

func (h *Handler) volumesOff() error {
	return notImplemented("volumes are not configured on this control plane (no volumes bucket)")
}

func (h *Handler) volumeList(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	if h.vol == nil {
		return writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}})
	}
	list, err := h.vol.List(r.Context(), p.Email, filters)
	if err != nil {
		return err
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range list {
		out.Volumes = append(out.Volumes, h.renderVolume(v, -1))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) volumeCreate(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	var body volume.CreateRequest
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.ClusterVolumeSpec != nil {
		return invalid("cluster volumes need a swarm; runsock has none")
	}
	if h.vol == nil {
		return h.volumesOff()
	}
	v, err := h.vol.Create(r.Context(), p.Email, volumes.CreateRequest{Name: body.Name, Driver: body.Driver, DriverOpts: body.DriverOpts, Labels: body.Labels})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, h.renderVolume(v, -1))
}

func (h *Handler) volumeInspect(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.vol == nil {
		return notFound("get " + r.PathValue("name") + ": no such volume")
	}
	v, err := h.vol.Get(r.Context(), p.Email, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.renderVolume(v, -1))
}

func (h *Handler) volumeDelete(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if h.vol == nil {
		return notFound("get " + r.PathValue("name") + ": no such volume")
	}
	if err := h.vol.Remove(r.Context(), p.Email, r.PathValue("name"), boolValue(r, "force")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *Handler) volumePrune(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	if h.vol == nil {
		return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: []string{}})
	}
	deleted, freed, err := h.vol.Prune(r.Context(), p.Email, filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: deleted, SpaceReclaimed: freed})
}

// diskUsageVolumes is docker system df's volumes, with their sizes in the bucket (one objects.list per volume).
func (h *Handler) diskUsageVolumes(ctx context.Context, p identity.Principal, list []*containers.Container) ([]*volume.Volume, error) {
	out := []*volume.Volume{}
	if h.vol == nil {
		return out, nil
	}
	vols, err := h.vol.List(ctx, p.Email, nil)
	if err != nil {
		return nil, err
	}
	refs := map[string]int64{}
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume {
				refs[m.Name]++
			}
		}
	}
	for _, v := range vols {
		size, err := h.vol.Usage(ctx, v)
		if err != nil {
			return nil, err
		}
		rv := h.renderVolume(v, size)
		rv.UsageData.RefCount = refs[v.Name]
		out = append(out, &rv)
	}
	return out, nil
}

// mountPoints renders a container's mounts as Docker's inspect and ps show them.
func (h *Handler) mountPoints(c *containers.Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range c.Mounts {
		mp := container.MountPoint{Type: m.Type, Destination: m.Destination, RW: !m.ReadOnly}
		if m.ReadOnly {
			mp.Mode = "ro"
		}
		switch m.Type {
		case mount.TypeVolume:
			mp.Name, mp.Driver = m.Name, volumes.Driver
			if h.vol != nil {
				mp.Source = "gs://" + h.vol.Bucket() + "/" + m.Prefix
			}
		case mount.TypeBind:
			// As Docker shows a bind: the client's path, private propagation (the staged copy is runsock's business).
			mp.Source, mp.Propagation = m.Source, mount.PropagationRPrivate
			if m.DockerSocket() {
				mp.Mode = m.Mode // as given, as Docker shows it
			}
		}
		out = append(out, mp)
	}
	return out
}
