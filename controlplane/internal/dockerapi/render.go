package dockerapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

func ts(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func inspect(c *containers.Container) container.InspectResponse {
	cfg := c.Config
	hc := c.HostConfig // as asked; what Cloud Run grants is in the labels containers.LabelGranted*
	path, args := "", []string(nil)
	if cmd := append(append([]string(nil), cfg.Entrypoint...), cfg.Cmd...); len(cmd) > 0 {
		path, args = cmd[0], cmd[1:]
	}
	if args == nil {
		args = []string{}
	}
	cfg.Hostname = c.ID[:12]
	if hc.Runtime == "" {
		hc.Runtime = "cloudrun" // the one runtime /info lists
	}
	return container.InspectResponse{
		ID: c.ID, Created: ts(c.Created), Path: path, Args: args, Image: c.ImageID, Name: "/" + c.Name,
		RestartCount: c.RestartCount, Driver: "cloudrun", Platform: "linux",
		State: &container.State{Status: c.DockerStatus(), Running: c.Active(), Restarting: c.Restarting(), Paused: c.Running() && c.State.Paused, OOMKilled: c.State.OOMKilled,
			ExitCode: c.State.ExitCode, Error: c.State.Error, StartedAt: ts(c.State.StartedAt), FinishedAt: ts(c.State.FinishedAt)},
		HostConfig: &hc, Config: &cfg, Mounts: []container.MountPoint{},
		NetworkSettings: &container.NetworkSettings{Networks: endpoints(hc.NetworkMode), Ports: inspectPorts(c)},
		GraphDriver:     &storage.DriverData{Name: "cloudrun", Data: map[string]string{}},
	}
}

// endpoints is NetworkSettings.Networks: the container's one network, named as Docker names it ("default" is the
// bridge network on Linux), with the network's ID. Cloud Run gives the task its addresses privately: none to show.
func endpoints(mode container.NetworkMode) map[string]*network.EndpointSettings {
	name := string(mode)
	if name == "" || name == "default" {
		name = "bridge"
	}
	return map[string]*network.EndpointSettings{name: {NetworkID: builtinNetworkID(name)}}
}

// builtinNetworkID is the ID netRegistry gives a built-in network.
func builtinNetworkID(name string) string {
	return (name + "0000000000000000000000000000000000000000000000000000000000000000")[:64]
}

// inspectPorts is NetworkSettings.Ports: every exposed port, with its host bindings when published (while running,
// as Docker shows them).
func inspectPorts(c *containers.Container) network.PortMap {
	out := network.PortMap{}
	for p := range c.Config.ExposedPorts {
		out[p] = nil
	}
	if c.Running() {
		for p, b := range c.Ports {
			out[p] = b
		}
	}
	return out
}

// portSummaries is docker ps's PORTS column.
func portSummaries(c *containers.Container) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bindings := range inspectPorts(c) {
		if len(bindings) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bindings {
			hp, _ := strconv.Atoi(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
	return out
}

func summary(c *containers.Container) *container.Summary {
	s := &container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: strings.Join(append(append([]string(nil), c.Config.Entrypoint...), c.Config.Cmd...), " "),
		Created: c.Created.Unix(), Ports: portSummaries(c), Labels: c.Config.Labels, State: c.DockerStatus(),
		Status: statusText(c), Mounts: []container.MountPoint{}}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(c.HostConfig.NetworkMode)}
	return s
}

// statusText is docker ps's STATUS column: "Up 5 minutes", "Exited (3) 2 seconds ago", "Created".
func statusText(c *containers.Container) string {
	switch c.State.Status {
	case container.StateRunning:
		if c.State.Paused {
			return "Up " + units.HumanDuration(time.Since(c.State.StartedAt)) + " (Paused)"
		}
		return "Up " + units.HumanDuration(time.Since(c.State.StartedAt))
	case container.StateRestarting:
		return "Restarting (" + strconv.Itoa(c.State.ExitCode) + ") " + units.HumanDuration(time.Since(c.State.FinishedAt)) + " ago"
	case container.StateExited:
		if c.State.FinishedAt.IsZero() {
			return "Exited (" + strconv.Itoa(c.State.ExitCode) + ")"
		}
		return "Exited (" + strconv.Itoa(c.State.ExitCode) + ") " + units.HumanDuration(time.Since(c.State.FinishedAt)) + " ago"
	}
	return "Created"
}
