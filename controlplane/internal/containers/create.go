package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CreateRequest is POST /containers/create, decoded.
type CreateRequest struct {
	Name       string
	Config     container.Config
	HostConfig container.HostConfig
	Networking *network.NetworkingConfig
	// StagedBinds maps the source path of each bind the client's localproxy staged to the staging's ID.
	StagedBinds map[string]string
}

// Create makes a container for p: it resolves the image (404 "No such image" makes the docker CLI pull), merges the
// image's config as Docker does, maps resources onto Cloud Run, and stores the container and its name in one
// transaction (409 when the name is taken).
func (s *Service) Create(ctx context.Context, p identity.Principal, req CreateRequest) (*Container, error) {
	name, err := checkName(req.Name)
	if err != nil {
		return nil, err
	}
	if req.Config.Image == "" {
		return nil, errorf(errdefs.ErrInvalidArgument, "config cannot be empty in order to create a container: no image specified")
	}
	if wd := req.Config.WorkingDir; wd != "" && !path.IsAbs(wd) {
		// Docker's check and words (moby daemon/container.go); a missing directory is created at start (the agent).
		return nil, errorf(errdefs.ErrInvalidArgument, "the working directory '%s' is invalid, it needs to be an absolute path", wd)
	}
	if err := checkCloudRunCan(&req.HostConfig); err != nil {
		return nil, err
	}
	if err := checkLogDriver(req.HostConfig.LogConfig); err != nil {
		return nil, err
	}
	if err := validateRestartPolicy(&req.HostConfig); err != nil {
		return nil, err
	}
	if err := checkHealthcheck(req.Config.Healthcheck); err != nil {
		return nil, err
	}
	cpu, mem, err := Resources(req.HostConfig.NanoCPUs, req.HostConfig.Memory)
	if err != nil {
		return nil, err
	}
	if _, _, err := labelCaptureLimit(req.Config.Labels); err != nil {
		return nil, err
	}
	if s.images == nil {
		return nil, errorf(errdefs.ErrUnavailable, "images are not available yet on this control plane")
	}
	img, err := s.images.Resolve(ctx, p.Email, req.Config.Image)
	if errdefs.IsNotFound(err) {
		return nil, errorf(errdefs.ErrNotFound, "No such image: %s", req.Config.Image)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve image %s: %w", req.Config.Image, err)
	}
	generated := name == ""
	if generated {
		name = randomName()
	}
	c := &Container{ID: newID(), Owner: p.Email, Name: name, Created: s.now().UTC(), Image: req.Config.Image,
		ImageID: img.ID, ImageRef: img.Reference, Config: mergeImageConfig(req.Config, img.Config),
		HostConfig: req.HostConfig, CPU: cpu, MemoryBytes: mem, State: State{Status: container.StateCreated}}
	// HostConfig keeps what the user asked (docker inspect shows it, as Docker does); CPU and MemoryBytes are what
	// Cloud Run grants, and labels say so.
	c.Config.Labels = GrantedLabels(c.Config.Labels, cpu, mem)
	c.Ports = publishedPorts(c.HostConfig, c.Config.ExposedPorts)
	if c.HostConfig.RestartPolicy.Name == "" {
		c.HostConfig.RestartPolicy.Name = container.RestartPolicyDisabled // as Docker records the default
	}
	if c.Mounts, err = parseMounts(&c.HostConfig, &c.Config, req.StagedBinds); err != nil {
		return nil, err
	}
	if c.Mounts, err = s.volumesFrom(ctx, p, c.HostConfig.VolumesFrom, c.Mounts); err != nil {
		return nil, err
	}
	if err := s.ensureVolumes(ctx, p.Email, &c.Mounts); err != nil {
		return nil, err
	}
	if err := s.copyUp(ctx, c); err != nil {
		s.removeAnonymous(context.WithoutCancel(ctx), p.Email, c.Mounts)
		return nil, err
	}
	if c.HostConfig.NetworkMode == "" || c.HostConfig.NetworkMode == "default" {
		c.HostConfig.NetworkMode = "bridge"
	}
	if err := s.attachNetworks(ctx, c, req.Networking); err != nil {
		return nil, err
	}
	if c.HostConfig.LogConfig.Type == "" {
		// Docker's default driver, and what clients check before reading logs (docker-py's run reads output only
		// for json-file or journald): `docker logs` works as it does with json-file.
		c.HostConfig.LogConfig.Type = DefaultLogDriver
	}
	err = s.store.CreateContainer(ctx, c)
	for i := 0; generated && errdefs.IsConflict(err) && i < 3; i++ { // a generated name collided: pick another
		c.Name = randomName()
		err = s.store.CreateContainer(ctx, c)
	}
	if err != nil {
		s.removeAnonymous(context.WithoutCancel(ctx), p.Email, c.Mounts)
		s.releaseNetworks(c)
		if errdefs.IsConflict(err) {
			return nil, s.nameInUse(ctx, p.Email, name)
		}
		return nil, err
	}
	s.emit(ctx, c, "create", nil)
	return c, nil
}

// attachNetworks gives c its endpoints. Without a Networks part only the built-in networks exist, and a
// container is on the one it names.
func (s *Service) attachNetworks(ctx context.Context, c *Container, nc *network.NetworkingConfig) error {
	if s.networks != nil {
		return s.networks.Attach(ctx, c, nc)
	}
	mode := string(c.HostConfig.NetworkMode)
	if mode != "bridge" && mode != "host" && mode != "none" {
		return errorf(errdefs.ErrNotFound, "network %s not found", mode)
	}
	if nc != nil {
		for n := range nc.EndpointsConfig {
			if n != mode && n != "default" {
				return errorf(errdefs.ErrNotFound, "network %s not found", n)
			}
		}
	}
	c.Networks = map[string]*Endpoint{mode: {}}
	return nil
}

func (s *Service) releaseNetworks(c *Container) {
	if s.networks != nil {
		s.networks.Release(context.WithoutCancel(s.ctx), c)
	}
}

func (s *Service) nameInUse(ctx context.Context, owner, name string) error {
	id, _ := s.store.ContainerIDByName(ctx, owner, name)
	return errorf(errdefs.ErrConflict, "Conflict. The container name \"/%s\" is already in use by container \"%s\". "+
		"You have to remove (or rename) that container to be able to reuse that name.", name, id)
}

func checkName(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if !validName.MatchString(name) {
		return "", errorf(errdefs.ErrInvalidArgument, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return strings.TrimPrefix(name, "/"), nil
}

// checkCloudRunCan refuses what a Cloud Run Job cannot give a container (yet), with a message saying so.
func checkCloudRunCan(hc *container.HostConfig) error {
	var why []string
	if hc.Privileged {
		why = append(why, "privileged mode (--privileged)")
	}
	if len(hc.Devices) > 0 {
		why = append(why, "devices (--device)")
	}
	if m := string(hc.NetworkMode); strings.HasPrefix(m, "container:") {
		why = append(why, fmt.Sprintf("network mode %q (sharing another container's network namespace: each container "+
			"is its own execution; put both on a user-defined network and reach it by name)", m))
	}
	if len(why) == 0 {
		return nil
	}
	return errorf(errdefs.ErrInvalidArgument, "runsock runs containers on Cloud Run Jobs, which cannot do %s", strings.Join(why, ", "))
}

// mergeImageConfig applies Docker's rules: the user's Entrypoint replaces the image's and drops its Cmd; the
// user's Cmd replaces the image's; env is the image's overridden key by key; labels and exposed ports are unions
// (the container wins); working dir and user default to the image's.
func mergeImageConfig(cfg container.Config, img ImageConfig) container.Config {
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = img.Entrypoint
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = img.Cmd
		}
	}
	cfg.Env = mergeEnv(img.Env, cfg.Env)
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = img.User
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.StopSignal
	}
	cfg.Healthcheck = mergeHealthcheck(cfg.Healthcheck, img.Healthcheck)
	if len(cfg.Shell) == 0 {
		cfg.Shell = img.Shell
	}
	if len(img.Labels) > 0 {
		labels := make(map[string]string, len(img.Labels)+len(cfg.Labels))
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	for _, v := range img.Volumes {
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		cfg.Volumes[v] = struct{}{}
	}
	for _, ps := range img.ExposedPorts {
		port, err := network.ParsePort(ps)
		if err != nil {
			continue
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	return cfg
}

func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	nameLeft  = []string{"admiring", "bold", "brave", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen", "nifty", "quirky", "serene", "vibrant", "zealous"}
	nameRight = []string{"babbage", "curie", "darwin", "euler", "feynman", "gauss", "hopper", "knuth", "lovelace", "noether", "pascal", "ritchie", "turing", "wozniak"}
)

// randomName is Docker-style; the random suffix keeps collisions (which would be a 409) out of reach.
func randomName() string {
	b := make([]byte, 3)
	rand.Read(b)
	return nameLeft[int(b[0])%len(nameLeft)] + "_" + nameRight[int(b[1])%len(nameRight)] + strconv.Itoa(int(b[2]))
}
