package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// createNetwork makes a user-defined network removed when the test ends (after its containers: cleanups run last
// registered first).
func createNetwork(t *testing.T, prefix string, args ...string) string {
	t.Helper()
	name := uniqueName(prefix)
	mustDocker(t, append(append([]string{"network", "create"}, args...), name)...)
	t.Cleanup(func() { docker(t, "network", "rm", name) })
	return name
}

// runOn starts a long-running container with the given run options and waits until its agent answers.
func runOn(t *testing.T, prefix string, opts ...string) string {
	t.Helper()
	name := uniqueName(prefix)
	removeOnCleanup(t, name)
	args := append(append([]string{"run", "-d", "--name", name}, opts...), "alpine", "sleep", "600")
	mustDocker(t, args...)
	waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return docker(t, "exec", name, "true").code == 0 })
	return name
}

func TestNetworkCommands(t *testing.T) {
	net := createNetwork(t, "netcmd", "--label", "team=qa")
	if r := docker(t, "network", "create", net); r.code == 0 || !strings.Contains(r.stderr, "network with name "+net+" already exists") {
		t.Errorf("duplicate name: %s", r)
	}
	for _, b := range []string{"bridge", "host", "none"} {
		if r := docker(t, "network", "rm", b); r.code == 0 || !strings.Contains(r.stderr, "pre-defined network") {
			t.Errorf("rm %s: %s", b, r)
		}
	}
	if out := mustDocker(t, "network", "ls", "--filter", "label=team=qa", "--format", "{{.Name}}"); strings.TrimSpace(out) != net {
		t.Errorf("ls by label = %q", out)
	}
	if out := mustDocker(t, "network", "ls", "--format", "{{.Name}}"); !strings.Contains(out, "bridge\n") || !strings.Contains(out, net+"\n") {
		t.Errorf("ls = %q", out)
	}
	var nets []struct {
		ID   string `json:"Id"`
		Name string
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
		Labels     map[string]string
		Containers map[string]struct{ Name, IPv4Address, MacAddress, EndpointID string }
	}
	inspectNet := func() {
		t.Helper()
		if err := json.Unmarshal([]byte(mustDocker(t, "network", "inspect", net)), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("network inspect: %v", err)
		}
	}
	inspectNet()
	if nets[0].Name != net || len(nets[0].IPAM.Config) != 1 || nets[0].IPAM.Config[0].Subnet == "" || nets[0].Labels["team"] != "qa" {
		t.Fatalf("network inspect = %+v", nets[0])
	}

	c := runOn(t, "netcmd", "--network", net, "--network-alias", "api", "--hostname", "apihost")
	inspectNet()
	ep, ok := nets[0].Containers[inspectField(t, c, "{{.Id}}")]
	if !ok || ep.Name != c || ep.IPv4Address == "" || ep.MacAddress == "" || ep.EndpointID == "" {
		t.Fatalf("network's Containers = %+v", nets[0].Containers)
	}
	got := inspectField(t, c, fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.NetworkID}} {{.IPAddress}} {{.Gateway}} {{.MacAddress}} {{.Aliases}} {{.EndpointID}}{{end}}`, net))
	f := strings.Fields(got)
	if len(f) != 6 || f[0] != nets[0].ID || !strings.HasPrefix(ep.IPv4Address, f[1]+"/") || f[2] != nets[0].IPAM.Config[0].Gateway || f[3] != ep.MacAddress ||
		f[4] != "[api]" {
		t.Errorf("container's network = %q (network %+v)", got, nets[0])
	}
	if h := inspectField(t, c, "{{.Config.Hostname}}"); h != "apihost" {
		t.Errorf("hostname = %q", h)
	}
	if r := docker(t, "network", "rm", net); r.code == 0 || !strings.Contains(r.stderr, "has active endpoints") {
		t.Errorf("rm in use: %s", r)
	}
	if r := docker(t, "run", "--rm", "--network", "container:"+c, "alpine", "true"); r.code == 0 || !strings.Contains(r.stderr, "another container's network namespace") {
		t.Errorf("--network container: %s", r)
	}
	if r := docker(t, "run", "--rm", "--network", "no-such-net-xyz", "alpine", "true"); r.code == 0 || !strings.Contains(r.stderr, "network no-such-net-xyz not found") {
		t.Errorf("unknown network: %s", r)
	}
	if r := docker(t, "network", "inspect", "no-such-net-xyz"); r.code == 0 || !strings.Contains(r.stderr, "network no-such-net-xyz not found") {
		t.Errorf("inspect unknown: %s", r)
	}
	mustDocker(t, "rm", "-f", c)
	spare := uniqueName("netspare")
	mustDocker(t, "network", "create", spare)
	if out := mustDocker(t, "network", "prune", "-f", "--filter", "label!=team=qa"); !strings.Contains(out, spare) || strings.Contains(out, net) {
		t.Errorf("prune = %q", out)
	}
	mustDocker(t, "network", "rm", net)
	if r := docker(t, "network", "inspect", net); r.code == 0 {
		t.Errorf("network still there after rm: %s", r)
	}
}

// lastFetch is the last failed fetch logged (each different failure is logged once).
var lastFetch string

// fetch asks http://host:port/x from container from with nc (the test image's busybox wget crashes, exit 139,
// on this path whether given a name or an address; nc does not) and returns the body and whether it came.
func fetch(t *testing.T, from, host string, port int) (string, bool) {
	t.Helper()
	return fetchOn(t, engine{"runsock", stack.dockerHost}, from, host, port)
}

// fetchOn is fetch on either engine.
func fetchOn(t *testing.T, e engine, from, host string, port int) (string, bool) {
	t.Helper()
	r := e.docker(t, "exec", from, "sh", "-c", fmt.Sprintf(`printf 'GET /x HTTP/1.0\r\n\r\n' | nc -w 3 %s %d`, host, port))
	ok := r.code == 0 && strings.HasPrefix(r.stdout, "HTTP/1.") && strings.Contains(r.stdout, " 200 ")
	if !ok && r.String() != lastFetch {
		lastFetch = r.String()
		t.Logf("%s: nc in %s to %s:%d: %s", e.name, from, host, port, r)
	}
	if !ok {
		return "", false
	}
	_, body, _ := strings.Cut(r.stdout, "\r\n\r\n")
	return body, true
}

func TestNetworkPeersReachEachOtherByName(t *testing.T) {
	net := createNetwork(t, "peers")
	srv := runOn(t, "srv", "--network", net, "--network-alias", "db", "--hostname", "dbhost")
	cli := runOn(t, "cli", "--network", net)
	out := runOn(t, "outsider")
	short := inspectField(t, srv, "{{.Id}}")[:12]

	// The port is chosen after both have started: the client learns it as the server opens it.
	port := 20000 + rand.IntN(20000)
	mustDocker(t, "exec", srv, "sh", "-c", "mkdir -p /tmp/www && echo pong > /tmp/www/x")
	mustDocker(t, "exec", "-d", srv, "httpd", "-f", "-p", fmt.Sprint(port), "-h", "/tmp/www")
	for _, name := range []string{srv, "db", short, "dbhost"} {
		waitFor(t, 20*time.Second, cli+" reaching "+name, func() bool {
			body, ok := fetch(t, cli, name, port)
			return ok && body == "pong\n"
		})
	}
	if hosts := mustDocker(t, "exec", cli, "cat", "/etc/hosts"); !strings.Contains(hosts, srv) || !strings.Contains(hosts, "db") {
		t.Errorf("/etc/hosts of %s = %q", cli, hosts)
	}
	// Not on the network: the name does not resolve, and the server's address is not served there either.
	if body, ok := fetch(t, out, srv, port); ok {
		t.Fatalf("%s (not on the network) reached %s: %q", out, srv, body)
	}
	addr := inspectField(t, srv, fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, net))
	if body, ok := fetch(t, out, addr, port); ok {
		t.Fatalf("%s (not on the network) reached %s at %s: %q", out, srv, addr, body)
	}

	// connect of a running container takes effect; disconnect too, and the name stops resolving.
	mustDocker(t, "network", "connect", net, out)
	waitFor(t, 20*time.Second, out+" reaching "+srv+" after connect", func() bool {
		body, ok := fetch(t, out, "db", port)
		return ok && body == "pong\n"
	})
	mustDocker(t, "network", "disconnect", net, cli)
	waitFor(t, 20*time.Second, cli+" no longer reaching "+srv+" after disconnect", func() bool {
		_, ok := fetch(t, cli, srv, port)
		return !ok
	})
	if hosts := mustDocker(t, "exec", cli, "cat", "/etc/hosts"); strings.Contains(hosts, srv) {
		t.Errorf("/etc/hosts of %s after disconnect still names %s: %q", cli, srv, hosts)
	}

	// A container that leaves (stops) stops resolving in its peers.
	mustDocker(t, "stop", "-t", "1", srv)
	waitFor(t, 20*time.Second, srv+"'s name leaving "+out, func() bool {
		return !strings.Contains(mustDocker(t, "exec", out, "cat", "/etc/hosts"), srv)
	})
}
