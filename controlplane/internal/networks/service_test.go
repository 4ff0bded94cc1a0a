package networks_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/networks"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// newService builds the networks Service on a Firestore emulator database of its own (FIRESTORE_EMULATOR_HOST).
func newService(t *testing.T) (*networks.Service, *store.Store) {
	t.Helper()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	st, err := store.Open(context.Background(), "runsock-nettest-"+hex.EncodeToString(b), "", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := networks.New(networks.Options{Store: st, Records: st})
	svc.SetContainers(containers.New(containers.Options{Store: st}))
	return svc, st
}

var (
	alice = identity.Principal{Email: "alice@example.com"}
	bob   = identity.Principal{Email: "bob@example.com"}
)

// addContainer stores a container of p's on the networks its create names, as containers.Service.Create does.
func addContainer(t *testing.T, svc *networks.Service, st *store.Store, p identity.Principal, name, mode string, nc *network.NetworkingConfig) *containers.Container {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 32)
	rand.Read(b)
	c := &containers.Container{ID: hex.EncodeToString(b), Owner: p.Email, Name: name, Created: time.Now(),
		HostConfig: container.HostConfig{NetworkMode: container.NetworkMode(mode)}, State: containers.State{Status: container.StateRunning}}
	if err := svc.Attach(ctx, c, nc); err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	if err := st.CreateContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNetworkObjects(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()

	created, err := svc.Create(ctx, alice, network.CreateRequest{Name: "appnet", Labels: map[string]string{"tier": "db"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, alice, network.CreateRequest{Name: "appnet"}); !errdefs.IsConflict(err) ||
		err.Error() != "network with name appnet already exists" {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := svc.Create(ctx, bob, network.CreateRequest{Name: "appnet"}); err != nil {
		t.Fatalf("bob's own appnet: %v", err)
	}
	for _, b := range []string{"bridge", "host", "none"} {
		if _, err := svc.Create(ctx, alice, network.CreateRequest{Name: b}); !errdefs.IsPermissionDenied(err) {
			t.Errorf("create %s: %v", b, err)
		}
		if err := svc.Remove(ctx, alice, b); !errdefs.IsPermissionDenied(err) {
			t.Errorf("remove %s: %v", b, err)
		}
	}
	if _, err := svc.Create(ctx, alice, network.CreateRequest{Name: "x", Driver: "overlay"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("overlay driver: %v", err)
	}

	other, err := svc.Create(ctx, alice, network.CreateRequest{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	a := addContainer(t, svc, st, alice, "web", "appnet", &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		"appnet": {Aliases: []string{"www"}}}})
	b := addContainer(t, svc, st, alice, "db", "appnet", nil)
	if a.Networks["appnet"].IPAddress == b.Networks["appnet"].IPAddress {
		t.Fatalf("two members share %s", a.Networks["appnet"].IPAddress)
	}
	if got := a.Networks["appnet"]; got.NetworkID != created.ID || got.Gateway == "" || got.MacAddress == "" || got.Aliases[0] != "www" {
		t.Fatalf("endpoint %+v", got)
	}

	in, err := svc.Inspect(ctx, alice, "appnet")
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != created.ID || len(in.Containers) != 2 || in.Labels["tier"] != "db" || len(in.IPAM.Config) != 1 ||
		!in.IPAM.Config[0].Subnet.Contains(in.IPAM.Config[0].Gateway) {
		t.Fatalf("inspect: %+v", in)
	}
	if _, err := svc.Inspect(ctx, bob, created.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("bob inspects alice's network by ID: %v", err)
	}
	if in2, err := svc.Inspect(ctx, alice, created.ID[:6]); err != nil || in2.ID != created.ID {
		t.Fatalf("by prefix: %v", err)
	}

	list, err := svc.List(ctx, alice, map[string][]string{"label": {"tier=db"}})
	if err != nil || len(list) != 1 || list[0].Name != "appnet" {
		t.Fatalf("list by label: %v %+v", err, list)
	}
	list, _ = svc.List(ctx, alice, nil)
	if len(list) != 5 { // bridge, host, none, appnet, other
		t.Fatalf("list: %d networks", len(list))
	}
	list, _ = svc.List(ctx, alice, map[string][]string{"dangling": {"true"}})
	if len(list) != 1 || list[0].Name != "other" {
		t.Fatalf("dangling: %+v", list)
	}

	if err := svc.Remove(ctx, alice, "appnet"); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("remove in use: %v", err)
	}
	if err := svc.Connect(ctx, alice, "other", network.ConnectRequest{Container: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Connect(ctx, alice, "other", network.ConnectRequest{Container: "web"}); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("connect twice: %v", err)
	}
	if err := svc.Connect(ctx, bob, "appnet", network.ConnectRequest{Container: "web"}); !errdefs.IsNotFound(err) {
		t.Fatalf("bob connects alice's container: %v", err)
	}
	if err := svc.Disconnect(ctx, alice, "other", network.DisconnectRequest{Container: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Disconnect(ctx, alice, "other", network.DisconnectRequest{Container: "web"}); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("disconnect twice: %v", err)
	}
	pruned, err := svc.Prune(ctx, alice, nil)
	if err != nil || len(pruned) != 1 || pruned[0] != "other" {
		t.Fatalf("prune: %v %v", pruned, err)
	}
	_ = other

	// Removing the members releases their addresses; the network can then go.
	for _, c := range []*containers.Container{a, b} {
		if err := st.DeleteContainer(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		svc.Release(ctx, c)
	}
	if err := svc.Remove(ctx, alice, "appnet"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Inspect(ctx, alice, "appnet"); !errdefs.IsNotFound(err) || err.Error() != "network appnet not found" {
		t.Fatalf("after rm: %v", err)
	}
}

func TestAttachRefusals(t *testing.T) {
	svc, st := newService(t)
	c := &containers.Container{ID: "c", Owner: alice.Email, HostConfig: container.HostConfig{NetworkMode: "nosuch"}}
	if err := svc.Attach(context.Background(), c, nil); !errdefs.IsNotFound(err) || err.Error() != "network nosuch not found" {
		t.Fatalf("unknown network: %v", err)
	}
	if _, err := svc.Create(context.Background(), bob, network.CreateRequest{Name: "bobnet"}); err != nil {
		t.Fatal(err)
	}
	c.HostConfig.NetworkMode = "bobnet"
	if err := svc.Attach(context.Background(), c, nil); !errdefs.IsNotFound(err) {
		t.Fatalf("another user's network: %v", err)
	}
	c.HostConfig.NetworkMode = "host"
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"bridge": {}}}
	if err := svc.Attach(context.Background(), c, nc); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("host plus bridge: %v", err)
	}
	c.HostConfig.NetworkMode = "bridge"
	c.HostConfig.Links = []string{"nosuch:db"}
	if err := svc.Attach(context.Background(), c, nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("link to a missing container: %v", err)
	}
	_ = st
}
