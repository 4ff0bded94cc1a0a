package networks

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

func member(id, name string, running bool, eps map[string]*containers.Endpoint) *containers.Container {
	st := container.StateExited
	if running {
		st = container.StateRunning
	}
	return &containers.Container{ID: id + "0000000000000000", Name: name, Owner: "a", Networks: eps,
		HostConfig: container.HostConfig{NetworkMode: "bridge"}, State: containers.State{Status: st}}
}

func TestPeersOf(t *testing.T) {
	onA := func(addr string, aliases ...string) map[string]*containers.Endpoint {
		return map[string]*containers.Endpoint{"a": {NetworkID: "na", IPAddress: addr, Aliases: aliases}}
	}
	web := member("aaaaaaaaaaaa", "web", true, onA("127.18.0.2"))
	db := member("bbbbbbbbbbbb", "db", true, onA("127.18.0.3", "database"))
	db.Config.Hostname = "dbhost"
	stopped := member("cccccccccccc", "old", false, onA("127.18.0.4"))
	other := member("dddddddddddd", "other", true, map[string]*containers.Endpoint{"b": {NetworkID: "nb", IPAddress: "127.19.0.2"}})
	bridged := member("eeeeeeeeeeee", "br", true, map[string]*containers.Endpoint{"bridge": {NetworkID: builtinID("bridge"), IPAddress: "127.17.0.9"}})
	linker := member("ffffffffffff", "linker", true, map[string]*containers.Endpoint{"bridge": {NetworkID: builtinID("bridge"), IPAddress: "127.17.0.10"}})
	linker.HostConfig.Links = []string{"br:backend"}
	all := []*containers.Container{web, db, stopped, other, bridged, linker}
	ports := map[string][]int{db.ID: {5432}}

	peers, allowed := PeersOf(web, all, ports)
	if len(peers) != 2 || !peers[0].Self || peers[0].Addr != "127.18.0.2" {
		t.Fatalf("web's peers = %+v", peers)
	}
	p := peers[1]
	if p.Ref != db.ID || p.Addr != "127.18.0.3" || !slices.Equal(p.Ports, []int{5432}) ||
		!slices.Equal(p.Names, []string{"db", "database", "bbbbbbbbbbbb", "dbhost"}) {
		t.Errorf("db as web's peer = %+v", p)
	}
	if !allowed[db.ID] || allowed[stopped.ID] || allowed[other.ID] || allowed[bridged.ID] {
		t.Errorf("web may reach %v", allowed)
	}
	// The default bridge resolves nothing, but a link gives its target.
	if peers, allowed := PeersOf(bridged, all, ports); len(peers) != 0 || len(allowed) != 0 {
		t.Errorf("a bridge container's peers = %+v", peers)
	}
	peers, allowed = PeersOf(linker, all, ports)
	if len(peers) != 1 || peers[0].Ref != bridged.ID || peers[0].Names[0] != "backend" || !allowed[bridged.ID] {
		t.Errorf("linker's peers = %+v", peers)
	}
	// A stopped container reaches nobody.
	if peers, _ := PeersOf(stopped, all, ports); peers != nil {
		t.Errorf("a stopped container's peers = %+v", peers)
	}
}
