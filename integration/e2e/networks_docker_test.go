package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// netfinNetwork creates a user-defined network on e, removed when the test ends (after its containers: cleanups run
// last registered first).
func netfinNetwork(t *testing.T, e engine, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	e.must(t, "network", "create", name)
	t.Cleanup(func() { e.docker(t, "network", "rm", name) })
	return name
}

// netfinServer starts an alpine container serving "pong\n" at /x on port with busybox httpd.
func netfinServer(t *testing.T, e engine, prefix string, port int, opts ...string) string {
	t.Helper()
	args := append(opts, "alpine", "sh", "-c", fmt.Sprintf("mkdir -p /tmp/www && echo pong > /tmp/www/x && exec httpd -f -p %d -h /tmp/www", port))
	return e.run(t, prefix, args...)
}

// netfinReach waits until from fetches "pong\n" from host:port on e.
func netfinReach(t *testing.T, e engine, from, host string, port int) {
	t.Helper()
	waitFor(t, 30*time.Second, e.name+": "+from+" reaching "+host, func() bool {
		body, ok := fetchOn(t, e, from, host, port)
		return ok && body == "pong\n"
	})
}

// netfinNonroot is the nonroot test image (USER nobody, glibc getent) as e names it.
func netfinNonroot(e engine) string {
	if e.host == stack.dockerHost {
		return stack.arURL + "/nonroot:latest"
	}
	return "nonroot:latest"
}

// An image whose user (nobody) cannot write /etc/hosts still resolves its peers with glibc's getent and musl's
// resolver — by name, alias and short ID — and reaches a peer's port below 1024, as on Docker; the main process and execs run as the
// image's user with Docker's groups.
func TestNetworkNonRootImageResolvesPeers(t *testing.T) {
	ids := map[string][]string{}
	for _, e := range engines(t) {
		net := netfinNetwork(t, e, "nonroot")
		srv := netfinServer(t, e, "nrsrv", 80, "--network", net, "--network-alias", "db")
		short := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.Id}}", srv))[:12]
		cli := e.run(t, "nrcli", "--network", net, netfinNonroot(e), "sleep", "600")
		addr := strings.TrimSpace(e.must(t, "inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, net), srv))
		for _, name := range []string{srv, "db", short} {
			// glibc's getent and musl's getaddrinfo (musl-hosts) print "ADDRESS NAME…": on runsock the address is
			// the peer's on the network (local to the caller), on Docker its bridge address.
			for _, resolver := range [][]string{{"getent", "hosts"}, {"musl-hosts"}} {
				var got string
				what := strings.Join(append(resolver, name), " ")
				waitFor(t, 30*time.Second, e.name+": "+what, func() bool {
					r := e.docker(t, append(append([]string{"exec", cli}, resolver...), name)...)
					got = r.stdout
					return r.code == 0
				})
				if f := strings.Fields(got); len(f) < 2 || f[0] != addr {
					t.Errorf("%s: %s in %s = %q, want %s first", e.name, what, cli, got, addr)
				}
			}
		}
		netfinReach(t, e, cli, "db", 80)
		for _, args := range [][]string{{"exec", cli, "id"}, {"exec", "-u", "0", cli, "id"}, {"run", "--rm", netfinNonroot(e), "id"}} {
			ids[e.name] = append(ids[e.name], strings.TrimSpace(e.must(t, args...)))
		}
	}
	if got, want := strings.Join(ids["runsock"], "\n"), strings.Join(ids["docker"], "\n"); got != want {
		t.Errorf("id (exec, exec -u 0, run --rm) on runsock:\n%s\nDocker:\n%s", got, want)
	}
	if !strings.HasPrefix(ids["runsock"][0], "uid=65534(nobody) gid=65534(nobody)") {
		t.Errorf("exec in a USER nobody image runs as %q", ids["runsock"][0])
	}
}

// A hostname resolves in peers too, with glibc and musl (Docker's DNSNames lists it; the reference engine predates
// that).
func TestNetworkHostnameResolves(t *testing.T) {
	e := engine{"runsock", stack.dockerHost}
	net := netfinNetwork(t, e, "hostname")
	e.run(t, "hnsrv", "--network", net, "--hostname", "dbhost", "alpine", "sleep", "600")
	cli := e.run(t, "hncli", "--network", net, netfinNonroot(e), "sleep", "600")
	for _, resolver := range [][]string{{"getent", "hosts"}, {"musl-hosts"}} {
		waitFor(t, 30*time.Second, strings.Join(resolver, " ")+" dbhost", func() bool {
			return e.docker(t, append(append([]string{"exec", cli}, resolver...), "dbhost")...).code == 0
		})
	}
}

// -p keeps publishing a container that is on a user-defined network, and its peers reach it there too.
func TestNetworkPublishOnUserNetwork(t *testing.T) {
	e := engine{"runsock", stack.dockerHost}
	net := netfinNetwork(t, e, "publish")
	srv := e.run(t, "pubsrv", "--network", net, "-p", "8080", stack.arURL+"/httpd:latest")
	e.must(t, "exec", srv, "sh", "-c", "echo pong > /www/x")
	hostPort := ""
	waitFor(t, 30*time.Second, "the published port of "+srv, func() bool {
		first, _, _ := strings.Cut(e.docker(t, "port", srv, "8080/tcp").stdout, "\n")
		hostPort = first[strings.LastIndexByte(first, ':')+1:]
		return hostPort != "" && hostPort != "0"
	})
	getPage(t, hostPort)
	cli := e.run(t, "pubcli", "--network", net, "alpine", "sleep", "600")
	netfinReach(t, e, cli, srv, 8080)
}

// --link on the default bridge gives the linker the target's name and alias, as on Docker; a container not linked
// resolves neither.
func TestNetworkLinkOnDefaultBridge(t *testing.T) {
	for _, e := range engines(t) {
		srv := netfinServer(t, e, "lnsrv", 8080)
		cli := e.run(t, "lncli", "--link", srv+":web", "alpine", "sleep", "600")
		other := e.run(t, "lnother", "alpine", "sleep", "600")
		for _, name := range []string{"web", srv} {
			netfinReach(t, e, cli, name, 8080)
		}
		if hosts := e.must(t, "exec", other, "cat", "/etc/hosts"); strings.Contains(hosts, srv) || regexp.MustCompile(`\bweb\b`).MatchString(hosts) {
			t.Errorf("%s: /etc/hosts of %s (not linked) names the target: %q", e.name, other, hosts)
		}
	}
}

// docker inspect's NetworkSettings.Networks entry for a user-defined network has Docker's fields with Docker's
// types, and the values relate to the network as on Docker: address in the subnet, the network's gateway and prefix
// length, a MAC address, the network's ID, a 64-hex endpoint ID, the alias.
func TestNetworkInspectShapedAsDocker(t *testing.T) {
	keys := map[string]map[string]string{}
	for _, e := range engines(t) {
		net := netfinNetwork(t, e, "shape")
		c := e.run(t, "shape", "--network", net, "--network-alias", "api", "alpine", "sleep", "600")
		var nets []struct {
			ID   string `json:"Id"`
			IPAM struct {
				Config []struct{ Subnet, Gateway string }
			}
		}
		if err := json.Unmarshal([]byte(e.must(t, "network", "inspect", net)), &nets); err != nil || len(nets) != 1 || len(nets[0].IPAM.Config) != 1 {
			t.Fatalf("%s: network inspect: %v %+v", e.name, err, nets)
		}
		raw := e.must(t, "inspect", "-f", fmt.Sprintf("{{json (index .NetworkSettings.Networks %q)}}", net), c)
		var fields map[string]any
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			t.Fatalf("%s: %v: %s", e.name, err, raw)
		}
		keys[e.name] = map[string]string{}
		for k, v := range fields {
			keys[e.name][k] = fmt.Sprintf("%T", v)
		}
		var ep struct {
			IPAddress, Gateway, MacAddress, NetworkID, EndpointID string
			IPPrefixLen                                           int
			Aliases                                               []string
		}
		json.Unmarshal([]byte(raw), &ep)
		subnet := netip.MustParsePrefix(nets[0].IPAM.Config[0].Subnet)
		addr, err := netip.ParseAddr(ep.IPAddress)
		if err != nil || !subnet.Contains(addr) || addr.String() == nets[0].IPAM.Config[0].Gateway {
			t.Errorf("%s: IPAddress %q not a member's address of %s", e.name, ep.IPAddress, subnet)
		}
		if ep.Gateway != nets[0].IPAM.Config[0].Gateway || ep.IPPrefixLen != subnet.Bits() || ep.NetworkID != nets[0].ID {
			t.Errorf("%s: gateway %q prefix %d network %q; want %q %d %q", e.name, ep.Gateway, ep.IPPrefixLen, ep.NetworkID,
				nets[0].IPAM.Config[0].Gateway, subnet.Bits(), nets[0].ID)
		}
		if !regexp.MustCompile(`^02:42(:[0-9a-f]{2}){4}$`).MatchString(ep.MacAddress) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(ep.EndpointID) {
			t.Errorf("%s: MacAddress %q EndpointID %q", e.name, ep.MacAddress, ep.EndpointID)
		}
		if len(ep.Aliases) == 0 || ep.Aliases[0] != "api" {
			t.Errorf("%s: Aliases %q", e.name, ep.Aliases)
		}
	}
	// Every field the reference engine shows is there on runsock with the same JSON type (null is any type's zero).
	for k, want := range keys["docker"] {
		got, ok := keys["runsock"][k]
		if !ok || (got != want && got != "<nil>" && want != "<nil>") {
			t.Errorf("NetworkSettings.Networks field %s: runsock %q, Docker %q", k, got, want)
		}
	}
}
