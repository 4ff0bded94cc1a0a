package dockerapi

import (
	"net"
	"net/netip"
	"slices"
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
	if cfg.Hostname == "" {
		cfg.Hostname = c.ID[:12]
	}
	if hc.Runtime == "" {
		hc.Runtime = "cloudrun" // the one runtime /info lists
	}
	return container.InspectResponse{
		ID: c.ID, Created: ts(c.Created), Path: path, Args: args, Image: c.ImageID, Name: "/" + c.Name,
		RestartCount: c.RestartCount, Driver: "cloudrun", Platform: "linux",
		State: &container.State{Status: c.DockerStatus(), Running: c.Active(), Paused: c.Running() && c.State.Paused, Restarting: c.Restarting(), OOMKilled: c.State.OOMKilled,
			ExitCode: c.State.ExitCode, Error: c.State.Error, StartedAt: ts(c.State.StartedAt), FinishedAt: ts(c.State.FinishedAt),
			Health: health(c.State.Health)},
		HostConfig: &hc, Config: &cfg, Mounts: []container.MountPoint{},
		NetworkSettings: &container.NetworkSettings{Networks: endpoints(c), Ports: inspectPorts(c)},
		GraphDriver:     &storage.DriverData{Name: "cloudrun", Data: map[string]string{}},
	}
}

// health is State.Health as Docker shows it: absent before the first start of a container with a healthcheck, then
// its status, failing streak and last results (an empty log, not null, before the first probe).
func health(h *containers.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := &container.Health{Status: h.Status, FailingStreak: h.FailingStreak, Log: make([]*container.HealthcheckResult, 0, len(h.Log))}
	for _, r := range h.Log {
		out.Log = append(out.Log, &container.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	return out
}

// endpoints are the container's networks as Docker shows them: addresses, gateway, MAC and DNS names only while it
// runs (a stopped container has no active endpoint), the network's ID and the aliases always.
func endpoints(c *containers.Container) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	if len(c.Networks) == 0 {
		out[string(c.HostConfig.NetworkMode)] = &network.EndpointSettings{}
		return out
	}
	for name, ep := range c.Networks {
		es := &network.EndpointSettings{NetworkID: ep.NetworkID, Aliases: ep.Aliases, Links: ep.Links}
		if c.Running() {
			es.EndpointID = ep.EndpointID
			es.IPAddress, _ = netip.ParseAddr(ep.IPAddress)
			es.Gateway, _ = netip.ParseAddr(ep.Gateway)
			es.IPPrefixLen = ep.PrefixLen
			if hw, err := net.ParseMAC(ep.MacAddress); err == nil {
				es.MacAddress = network.HardwareAddr(hw)
			}
			if name != network.NetworkBridge && name != network.NetworkHost && name != network.NetworkNone {
				es.DNSNames = dnsNames(c, ep)
			}
		}
		out[name] = es
	}
	return out
}

// dnsNames are the names an endpoint resolves by, in Docker's order (moby's buildEndpointDNSNames): the container's
// name, its aliases on the network, its short ID, its hostname; each once.
func dnsNames(c *containers.Container, ep *containers.Endpoint) []string {
	names := append(append([]string{c.Name}, ep.Aliases...), c.ID[:12])
	if c.Config.Hostname != "" {
		names = append(names, c.Config.Hostname)
	}
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// inspectPorts is NetworkSettings.Ports: while running, every exposed port with its host bindings when published
// (a random one once the owner's localproxy has bound it); otherwise empty, as Docker shows it.
func inspectPorts(c *containers.Container) network.PortMap {
	out := network.PortMap{}
	if !c.Running() {
		return out
	}
	for p := range c.Config.ExposedPorts {
		out[p] = nil
	}
	for p, bindings := range c.Ports {
		for _, b := range bindings {
			if b.HostPort != "" {
				out[p] = append(out[p], b)
			}
		}
	}
	return out
}

// portSummaries is docker ps's PORTS column.
func portSummaries(c *containers.Container) []container.PortSummary {
	out := []container.PortSummary{}
	ports := inspectPorts(c)
	if len(ports) == 0 { // not running: the exposed ports, as moby's container view lists them
		for p := range c.Config.ExposedPorts {
			ports[p] = nil
		}
	}
	for p, bindings := range ports {
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

// listCommand is the list's Command as Docker writes it (moby container/view.go): the path, then the arguments,
// each one holding a space put in single quotes, without escaping ("sh -c 'echo a b'"). compose ps shows it.
func listCommand(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	out := argv[0]
	for _, a := range argv[1:] {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		out += " " + a
	}
	return out
}

func summary(c *containers.Container) *container.Summary {
	s := &container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: listCommand(append(append([]string(nil), c.Config.Entrypoint...), c.Config.Cmd...)),
		Created: c.Created.Unix(), Ports: portSummaries(c), Labels: c.Config.Labels, State: c.DockerStatus(),
		Status: statusText(c), Mounts: []container.MountPoint{}}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(c)}
	return s
}

// statusText is docker ps's STATUS column: "Up 5 minutes", "Exited (3) 2 seconds ago", "Created".
func statusText(c *containers.Container) string {
	switch c.State.Status {
	case container.StateRunning:
		up := "Up " + units.HumanDuration(time.Since(c.State.StartedAt))
		switch {
		case c.State.Paused:
			return up + " (Paused)"
		case c.State.Health == nil:
			return up
		case c.State.Health.Status == container.Starting:
			return up + " (health: starting)"
		}
		return up + " (" + string(c.State.Health.Status) + ")"

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
