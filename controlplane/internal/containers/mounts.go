package containers

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Mount is one of a container's mounts as runsock records it: a volume (a prefix of the volumes bucket, a Cloud
// Run Cloud Storage volume), a bind (a staged copy of the client's directory, mounted as a volume is), a tmpfs (a
// Cloud Run in-memory volume), or the Docker socket (a bind the agent serves: DockerSocket).
type Mount struct {
	Type   mount.Type // mount.TypeVolume, mount.TypeBind or mount.TypeTmpfs
	Name   string     `json:",omitempty"` // the volume's name
	Prefix string     `json:",omitempty"` // the volume's or staged bind's prefix in the bucket
	Source string     `json:",omitempty"` // a bind's source path on the client's machine, as inspect shows it
	Mode   string     `json:",omitempty"` // a Docker socket bind's -v mode as given ("", "ro", "rw"), shown by inspect as Docker shows it
	BindID string     `json:",omitempty"` // a bind's staging (volumes.StageBind)
	// File is the name of a single-file bind's file in its staging ("" = a directory bind). Cloud Run mounts
	// directories only: the staging is mounted at MountPath and the agent links Destination to the file there.
	File        string `json:",omitempty"`
	Anonymous   bool   `json:",omitempty"`
	Destination string
	ReadOnly    bool  `json:",omitempty"`
	SizeBytes   int64 `json:",omitempty"` // tmpfs size (0: Cloud Run's default, half the memory limit)
	// NoCopy: the image's files at Destination are not copied into the volume at create (nocopy,
	// volume-nocopy, and a volume shared by --volumes-from, as Docker's CopyData is false for those).
	NoCopy bool `json:",omitempty"`
	// implicit marks, during create only, an anonymous volume from Config.Volumes (an image's VOLUME, -v /path),
	// which a --volumes-from source's volume at the same path replaces.
	implicit bool
}

// IsDockerSocket reports whether a bind of src is the Docker socket: the owner grants the container their Docker
// API, as mounting the socket does on Docker.
func IsDockerSocket(src string) bool {
	return src == "/var/run/docker.sock" || src == "/run/docker.sock"
}

// DockerSocket reports whether m binds the Docker socket into the container: Cloud Run mounts nothing for it; the
// container's agent serves its owner's Docker API at m.Destination (docs/volumes.md).
func (m Mount) DockerSocket() bool { return m.Type == mount.TypeBind && IsDockerSocket(m.Source) }

// DockerSockets returns the paths inside c where its agent serves its owner's Docker API (none: no grant).
func (c *Container) DockerSockets() []string {
	var out []string
	for _, m := range c.Mounts {
		if m.DockerSocket() {
			out = append(out, m.Destination)
		}
	}
	return out
}

// volumeDriver is Docker's driver name of every runsock volume (volumes.Driver).
const volumeDriver = "local"

// Volumes is the volumes package as containers use it.
type Volumes interface {
	// Ensure returns owner's volume name, creating it if needed (anonymous: a new anonymous volume, name "" for a
	// random name), and its prefix in the bucket.
	Ensure(ctx context.Context, owner, name string, anonymous bool) (string, string, error)
	// RemoveAnonymous removes those of names that are anonymous volumes no container uses any more.
	RemoveAnonymous(ctx context.Context, owner string, names []string) error
	// StagedBind returns the prefix of owner's staged bind id and, for a single-file bind, the file's name (not
	// found when owner staged no such bind).
	StagedBind(ctx context.Context, owner, id string) (string, string, error)
}

// fileBindsRoot is where single-file binds' stagings are mounted, out of the way of the image's files.
const fileBindsRoot = "/.runsock/binds/"

// MountPath is where Cloud Run mounts m: its destination, or for a single-file bind a hidden directory (the
// agent places the file, FileTarget, at the destination).
func (m Mount) MountPath() string {
	if m.File != "" {
		return fileBindsRoot + m.BindID
	}
	return m.Destination
}

// FileTarget is where a single-file bind's file is once its staging is mounted.
func (m Mount) FileTarget() string { return m.MountPath() + "/" + m.File }

func invalidMount(format string, args ...any) error {
	return errorf(errdefs.ErrInvalidArgument, format, args...)
}

// parseMounts reads every mount a create asks for, as Docker reads them: HostConfig.Binds ("NAME:/path[:ro]"),
// HostConfig.Mounts (type volume or tmpfs), HostConfig.Tmpfs ("/path": "size=64m"), and Config.Volumes (the
// image's VOLUME and `-v /path`: anonymous volumes, unless another mount takes that path). A bind of the client's
// files must have been staged by the client's localproxy: staged maps its source path to the staging's ID; any
// other bind is refused (a raw API client cannot name the laptop's files).
func parseMounts(hc *container.HostConfig, cfg *container.Config, staged map[string]string) ([]Mount, error) {
	var out []Mount
	seen := map[string]bool{}
	add := func(m Mount) error {
		if err := checkDestination(m.Destination); err != nil {
			return err
		}
		m.Destination = path.Clean(m.Destination)
		if seen[m.Destination] {
			return invalidMount("Duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
		out = append(out, m)
		return nil
	}
	for _, b := range hc.Binds {
		m, err := parseBind(b, staged)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, hm := range hc.Mounts {
		m := Mount{Type: hm.Type, Destination: hm.Target, ReadOnly: hm.ReadOnly}
		switch hm.Type {
		case mount.TypeVolume:
			m.Name, m.Anonymous = hm.Source, hm.Source == ""
			if hm.VolumeOptions != nil && hm.VolumeOptions.DriverConfig != nil && (hm.VolumeOptions.DriverConfig.Name != "" && hm.VolumeOptions.DriverConfig.Name != "local" || len(hm.VolumeOptions.DriverConfig.Options) > 0) {
				return nil, invalidMount("invalid mount config for type \"volume\": runsock volumes are Cloud Storage prefixes and take no driver or driver options")
			}
			if hm.VolumeOptions != nil && hm.VolumeOptions.Subpath != "" {
				return nil, invalidMount("invalid mount config for type \"volume\": volume-subpath is not supported by runsock")
			}
			m.NoCopy = hm.VolumeOptions != nil && hm.VolumeOptions.NoCopy
		case mount.TypeTmpfs:
			if hm.Source != "" {
				return nil, invalidMount("invalid mount config for type \"tmpfs\": source must not be specified")
			}
			if hm.TmpfsOptions != nil {
				m.SizeBytes = hm.TmpfsOptions.SizeBytes
			}
			if m.SizeBytes < 0 {
				return nil, invalidMount("invalid mount config for type \"tmpfs\": invalid tmpfs size %d", m.SizeBytes)
			}
		case mount.TypeBind:
			if IsDockerSocket(hm.Source) {
				m.Source = hm.Source
				break
			}
			id, ok := staged[hm.Source]
			if !ok {
				return nil, bindRefused(hm.Source)
			}
			m.Source, m.BindID = hm.Source, id
		default:
			return nil, invalidMount("invalid mount config for type %q: runsock mounts volumes and tmpfs only", hm.Type)
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	tmpfsPaths := make([]string, 0, len(hc.Tmpfs))
	for p := range hc.Tmpfs {
		tmpfsPaths = append(tmpfsPaths, p)
	}
	sort.Strings(tmpfsPaths)
	for _, p := range tmpfsPaths {
		size, ro, err := parseTmpfsOptions(hc.Tmpfs[p])
		if err != nil {
			return nil, err
		}
		if err := add(Mount{Type: mount.TypeTmpfs, Destination: p, SizeBytes: size, ReadOnly: ro}); err != nil {
			return nil, err
		}
	}
	anon := make([]string, 0, len(cfg.Volumes))
	for p := range cfg.Volumes {
		anon = append(anon, p)
	}
	sort.Strings(anon)
	for _, p := range anon {
		if seen[path.Clean(p)] {
			continue // a named volume, tmpfs or bind given for an image's VOLUME takes its place
		}
		if err := add(Mount{Type: mount.TypeVolume, Anonymous: true, Destination: p, implicit: true}); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, nil
}

func bindRefused(src string) error {
	return invalidMount("runsock runs containers on Cloud Run Jobs and cannot bind-mount %s unless localproxy, the only part that can read the machine running docker, copies it: point DOCKER_HOST at localproxy, or use a named volume (docker volume create, then -v NAME:/path) and docker cp", src)
}

// checkDestination applies Docker's rule (absolute) and Cloud Run's (not '/', nor at or under /dev, /proc, /sys,
// no ':').
func checkDestination(p string) error {
	if !path.IsAbs(p) {
		return invalidMount("invalid mount path: '%s' mount path must be absolute", p)
	}
	c := path.Clean(p)
	if c == "/" {
		return invalidMount("invalid specification: destination can't be '/'")
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if c == d || strings.HasPrefix(c, d+"/") {
			return invalidMount("invalid mount path: '%s': Cloud Run cannot mount volumes at %s or below it", p, d)
		}
	}
	if strings.Contains(c, ":") {
		return invalidMount("invalid mount path: '%s': Cloud Run mount paths cannot contain ':'", p)
	}
	return nil
}

// parseBind reads one -v: "NAME:/path[:MODE]" (a named volume; MODE a comma list of ro, rw, z, Z, nocopy) or
// "/host:/path[:MODE]" (a bind mount: staged by localproxy, else refused).
func parseBind(spec string, staged map[string]string) (Mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Mount{}, invalidMount("invalid volume specification: '%s'", spec)
	}
	src, dst := parts[0], parts[1]
	if IsDockerSocket(src) {
		return parseDockerSocketBind(spec, parts)
	}
	m := Mount{Type: mount.TypeVolume, Name: src, Destination: dst}
	if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
		id, ok := staged[src]
		if !ok {
			return Mount{}, bindRefused(src)
		}
		m = Mount{Type: mount.TypeBind, Source: src, BindID: id, Destination: dst}
	}
	if len(parts) == 3 {
		for _, mode := range strings.Split(parts[2], ",") {
			switch mode {
			case "ro":
				m.ReadOnly = true
			case "nocopy":
				m.NoCopy = true
			case "rw", "z", "Z", "":
			default:
				return Mount{}, invalidMount("invalid mode: %s", parts[2])
			}
		}
	}
	if !path.IsAbs(dst) {
		return Mount{}, invalidMount("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", spec, dst)
	}
	return m, nil
}

// parseDockerSocketBind reads "-v /var/run/docker.sock:/path[:MODE]" (parts split at ':'). Docker accepts ro on
// the socket and the API still works through it (connecting to a socket is not a write to the file system): runsock
// likewise serves the API whatever the mode, and records it for inspect.
func parseDockerSocketBind(spec string, parts []string) (Mount, error) {
	m := Mount{Type: mount.TypeBind, Source: parts[0], Destination: parts[1]}
	if len(parts) == 3 {
		m.Mode = parts[2]
		for _, mode := range strings.Split(parts[2], ",") {
			switch mode {
			case "ro":
				m.ReadOnly = true
			case "rw", "z", "Z", "":
			case "shared", "rshared", "slave", "rslave", "private", "rprivate":
			default:
				return Mount{}, invalidMount("invalid mode: %s", parts[2])
			}
		}
	}
	if !path.IsAbs(m.Destination) {
		return Mount{}, invalidMount("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", spec, m.Destination)
	}
	return m, nil
}

// parseTmpfsOptions reads --tmpfs options: size=N[k|m|g] (or bytes), mode, ro/rw and the mount flags Docker accepts.
func parseTmpfsOptions(opts string) (int64, bool, error) {
	var size int64
	ro := false
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
		switch k {
		case "":
		case "size":
			n, err := parseSize(v)
			if err != nil {
				return 0, false, invalidMount("invalid tmpfs option %q: %v", o, err)
			}
			size = n
		case "ro":
			ro = true
		case "rw", "mode", "uid", "gid", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "nr_inodes", "sync", "async", "atime", "noatime":
		default:
			return 0, false, invalidMount("invalid tmpfs option %q", o)
		}
	}
	return size, ro, nil
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult, v = 1<<10, v[:len(v)-1]
	case strings.HasSuffix(v, "m"), strings.HasSuffix(v, "M"):
		mult, v = 1<<20, v[:len(v)-1]
	case strings.HasSuffix(v, "g"), strings.HasSuffix(v, "G"):
		mult, v = 1<<30, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 64m")
	}
	return n * mult, nil
}

// ensureVolumes creates the volumes a new container names (Docker creates a named volume on first use) and its
// anonymous ones, filling in names and prefixes. On failure it removes the anonymous volumes it made.
//
// Without a volumes service (no volumes bucket) an image's VOLUME paths stay plain directories of the container, as
// they were before runsock had volumes, and ms loses them; a volume the user names is refused (501).
func (s *Service) ensureVolumes(ctx context.Context, owner string, ms *[]Mount) error {
	if s.volumes == nil {
		kept := (*ms)[:0]
		for _, m := range *ms {
			if m.Type == mount.TypeVolume && !m.implicit || m.Type == mount.TypeBind && !m.DockerSocket() {
				return errorf(errdefs.ErrNotImplemented, "volumes are not configured on this control plane (no volumes bucket)")
			}
			if m.Type != mount.TypeVolume {
				kept = append(kept, m)
			}
		}
		*ms = kept
		return nil
	}
	return s.ensureEach(ctx, owner, *ms)
}

func (s *Service) ensureEach(ctx context.Context, owner string, ms []Mount) error {
	for i := range ms {
		m := &ms[i]
		if m.Type == mount.TypeBind {
			if m.DockerSocket() {
				continue // served by the agent: nothing to stage or ensure
			}
			prefix, file, err := s.volumes.StagedBind(ctx, owner, m.BindID)
			if err != nil {
				s.removeAnonymous(ctx, owner, ms[:i])
				if errdefs.IsNotFound(err) {
					return bindRefused(m.Source)
				}
				return err
			}
			m.Prefix, m.File = prefix, file
			continue
		}
		if m.Type != mount.TypeVolume || m.Prefix != "" {
			continue // a tmpfs, or a --volumes-from source's volume: it exists (Docker gets it, and announces no create)
		}
		name, prefix, err := s.volumes.Ensure(ctx, owner, m.Name, m.Anonymous)
		if err != nil {
			s.removeAnonymous(ctx, owner, ms[:i])
			return err
		}
		m.Name, m.Prefix = name, prefix
	}
	return nil
}

// VolumeCopier copies what an image has at a volume's mount point into the volume, as Docker does when it creates
// a container (its "copy-up"): only into an empty volume, only when the image has a directory there.
type VolumeCopier interface {
	// CopyUp copies image's files under destination into the volume at prefix if the volume is empty, and
	// reports whether it did.
	CopyUp(ctx context.Context, image, destination, prefix string) (bool, error)
}

// copyUp fills c's new volumes from its image, as Docker's populateVolumes does at create: each volume mount but
// those with NoCopy; a volume that already holds files is left as it is. A failure fails the create, as in Docker.
func (s *Service) copyUp(ctx context.Context, c *Container) error {
	if s.copier == nil {
		return nil
	}
	for _, m := range c.Mounts {
		if m.Type != mount.TypeVolume || m.NoCopy || m.Prefix == "" {
			continue
		}
		copied, err := s.copier.CopyUp(ctx, c.ImageRef, m.Destination, m.Prefix)
		if err != nil {
			return fmt.Errorf("failed to copy existing image contents to volume %s: %w", m.Name, err)
		}
		if copied {
			s.log.Debug("image files copied into volume", "container", c.ID, "volume", m.Name, "destination", m.Destination)
		}
	}
	return nil
}

func (s *Service) removeAnonymous(ctx context.Context, owner string, ms []Mount) {
	var names []string
	for _, m := range ms {
		if m.Type == mount.TypeVolume && m.Anonymous && m.Name != "" {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 || s.volumes == nil {
		return
	}
	if err := s.volumes.RemoveAnonymous(ctx, owner, names); err != nil {
		s.log.Warn("anonymous volumes not removed", "owner", owner, "err", err)
	}
}

// VolumeUsers returns the IDs of owner's containers, in any state, that mount the volume name (volumes.Users).
func (s *Service) VolumeUsers(ctx context.Context, owner, name string) ([]string, error) {
	list, err := s.store.ListContainers(ctx, owner)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume && m.Name == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	return ids, nil
}

// volumesFrom adds the volumes of the containers named by --volumes-from (REF[:ro|:rw]) to ms, as Docker does: each
// volume at its destination, read-only when the mode says ro (or, without a mode, as the source mounts it), unless
// the new container mounts something there already. tmpfs mounts are not shared. The source must be p's own
// container: volumes belong to their owner.
func (s *Service) volumesFrom(ctx context.Context, p identity.Principal, refs []string, ms []Mount) ([]Mount, error) {
	// An anonymous volume not yet created (an image's VOLUME, -v /path) gives way to the source's volume there.
	taken := map[string]bool{}
	kept := ms[:0:0]
	for _, m := range ms {
		if len(refs) > 0 && m.Type == mount.TypeVolume && m.implicit {
			continue
		}
		taken[m.Destination] = true
		kept = append(kept, m)
	}
	fromImage := ms
	ms = kept
	for _, spec := range refs {
		ref, mode, _ := strings.Cut(spec, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, invalidMount("invalid mode: %s", mode)
		}
		src, err := s.Resolve(ctx, p, ref)
		if err == nil && src.Owner != p.Email {
			err = noSuchContainer(ref)
		}
		if err != nil {
			return nil, err
		}
		for _, m := range src.Mounts {
			if m.Type != mount.TypeVolume || taken[m.Destination] {
				continue
			}
			if mode != "" {
				m.ReadOnly = mode == "ro"
			}
			m.NoCopy = true // the source's volume, filled already: Docker copies nothing into it
			taken[m.Destination] = true
			ms = append(ms, m)
		}
	}
	for _, m := range fromImage { // the image's VOLUMEs no source filled
		if m.Type == mount.TypeVolume && m.implicit && !taken[m.Destination] {
			taken[m.Destination] = true
			ms = append(ms, m)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Destination < ms[j].Destination })
	return ms, nil
}
