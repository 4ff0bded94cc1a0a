package commit

import (
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/container"
)

// merge fills what the user's config (the commit request's body, with the changes applied) leaves unset from the
// container's, as Docker's daemon does (daemon/commit.go merge): user, env key by key, labels, exposed ports and
// volumes are unions (the user's win), the container's Cmd and Entrypoint are kept unless the user set an
// Entrypoint, working dir, stop signal and healthcheck default to the container's.
func merge(user *container.Config, ctr container.Config) {
	if user.User == "" {
		user.User = ctr.User
	}
	if len(user.ExposedPorts) == 0 {
		user.ExposedPorts = ctr.ExposedPorts
	} else {
		for p := range ctr.ExposedPorts {
			user.ExposedPorts[p] = struct{}{}
		}
	}
	if len(user.Env) == 0 {
		user.Env = ctr.Env
	} else {
		for _, kv := range ctr.Env {
			k, _, _ := strings.Cut(kv, "=")
			if !hasEnv(user.Env, k) {
				user.Env = append(user.Env, kv)
			}
		}
	}
	if user.Labels == nil {
		user.Labels = map[string]string{}
	}
	for k, v := range ctr.Labels {
		if _, ok := user.Labels[k]; !ok {
			user.Labels[k] = v
		}
	}
	if len(user.Entrypoint) == 0 {
		if len(user.Cmd) == 0 {
			user.Cmd = ctr.Cmd
		}
		if user.Entrypoint == nil {
			user.Entrypoint = ctr.Entrypoint
		}
	}
	if user.Healthcheck == nil {
		user.Healthcheck = ctr.Healthcheck
	}
	if user.WorkingDir == "" {
		user.WorkingDir = ctr.WorkingDir
	}
	if len(user.Volumes) == 0 {
		user.Volumes = ctr.Volumes
	} else {
		for v := range ctr.Volumes {
			user.Volumes[v] = struct{}{}
		}
	}
	if user.StopSignal == "" {
		user.StopSignal = ctr.StopSignal
	}
}

func hasEnv(env []string, k string) bool {
	for _, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek == k {
			return true
		}
	}
	return false
}

// imageConfig is the image config Docker writes for c: the OCI image config's fields (a container's Hostname,
// Image, attach and TTY settings are not part of an image).
func imageConfig(c container.Config) v1.Config {
	out := v1.Config{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
		Labels: c.Labels, OnBuild: c.OnBuild, StopSignal: c.StopSignal, Shell: c.Shell, ArgsEscaped: c.ArgsEscaped,
		Volumes: c.Volumes}
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}
