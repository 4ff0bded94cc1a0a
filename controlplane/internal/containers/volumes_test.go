package containers_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
)

// fakeVolumes records the volumes the Service creates and removes; the volumes package has its own tests.
type fakeVolumes struct {
	mu      sync.Mutex
	vols    map[string]bool // owner/name
	n       int
	removed []string
}

func (f *fakeVolumes) Ensure(_ context.Context, owner, name string, anonymous bool) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == "" {
		f.n++
		name = strings.Repeat(string(rune('a'+f.n)), 64)
	}
	f.vols[owner+"/"+name] = true
	return name, "v1/" + owner + "/" + name + "/", nil
}

func (f *fakeVolumes) RemoveAnonymous(_ context.Context, owner string, names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, names...)
	return nil
}

// StagedBind knows one staging: alice's "b0".
func (f *fakeVolumes) StagedBind(_ context.Context, owner, id string) (string, string, error) {
	if owner != "alice@example.com" || id != "b0" {
		return "", "", errdefs.ErrNotFound
	}
	return "b1/" + owner + "/b0/files/", "", nil
}

// TestContainerBinds: a bind is accepted only when the client's localproxy staged its source for this owner, and
// becomes a mount of the staging's prefix, the client's path kept for inspect; :ro is kept.
func TestContainerBinds(t *testing.T) {
	ctx := context.Background()
	st, l, vols := containerstest.NewStore(), containerstest.NewLauncher(), &fakeVolumes{vols: map[string]bool{}}
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}, Volumes: vols})
	defer s.Close()
	staged := map[string]string{"/home/alice/src": "b0"}
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
	}{
		{"-v", container.HostConfig{Binds: []string{"/home/alice/src:/src:ro"}}},
		{"--mount", container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/home/alice/src", Target: "/src", ReadOnly: true}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine"}, HostConfig: tc.hc, StagedBinds: staged})
			if err != nil {
				t.Fatal(err)
			}
			want := containers.Mount{Type: mount.TypeBind, Source: "/home/alice/src", BindID: "b0", Prefix: "b1/alice@example.com/b0/files/", Destination: "/src", ReadOnly: true}
			if len(c.Mounts) != 1 || c.Mounts[0] != want {
				t.Fatalf("mounts = %+v, want %+v", c.Mounts, want)
			}
			// Not staged, or staged by someone else: refused, as a raw API client naming a path is.
			if _, err := s.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine"}, HostConfig: tc.hc}); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("unstaged bind: %v", err)
			}
			if _, err := s.Create(ctx, bob, containers.CreateRequest{Config: container.Config{Image: "alpine"}, HostConfig: tc.hc, StagedBinds: staged}); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("bob naming alice's staging: %v", err)
			}
		})
	}
}

func TestContainerVolumes(t *testing.T) {
	ctx := context.Background()
	st, l, vols := containerstest.NewStore(), containerstest.NewLauncher(), &fakeVolumes{vols: map[string]bool{}}
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}, Volumes: vols})
	defer s.Close()

	src, err := s.Create(ctx, alice, containers.CreateRequest{Name: "src", Config: container.Config{Image: "alpine", Volumes: map[string]struct{}{"/anon": {}}},
		HostConfig: container.HostConfig{Binds: []string{"db:/data:ro"}, Tmpfs: map[string]string{"/t": "size=1m"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Mounts) != 3 || src.Mounts[0].Name == "" || !src.Mounts[0].Anonymous || src.Mounts[1].Name != "db" || src.Mounts[1].Prefix != "v1/alice@example.com/db/" {
		t.Fatalf("mounts = %+v", src.Mounts)
	}
	if !vols.vols["alice@example.com/db"] {
		t.Fatal("the named volume was not created on first use")
	}
	// The launch carries the mounts, so the job template does.
	if err := s.Start(ctx, alice, "src"); err != nil {
		t.Fatal(err)
	}
	if specs := l.Specs(); len(specs) != 1 || len(specs[0].Mounts) != 3 || specs[0].Mounts[2].Type != mount.TypeTmpfs || specs[0].Mounts[2].SizeBytes != 1<<20 {
		t.Fatalf("launch mounts = %+v", l.Specs())
	}

	// --volumes-from: the source's volumes (not its tmpfs), read-write when asked; another owner's source is not found.
	dst, err := s.Create(ctx, alice, containers.CreateRequest{Name: "dst", Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{VolumesFrom: []string{"src:rw"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dst.Mounts) != 2 || dst.Mounts[0].Name != src.Mounts[0].Name || dst.Mounts[1].Name != "db" || dst.Mounts[1].ReadOnly {
		t.Fatalf("volumes-from mounts = %+v", dst.Mounts)
	}
	if _, err := s.Create(ctx, bob, containers.CreateRequest{Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{VolumesFrom: []string{src.ID}}}); !errdefs.IsNotFound(err) {
		t.Fatalf("bob's --volumes-from alice's container: %v", err)
	}
	if _, err := s.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{VolumesFrom: []string{"src:bogus"}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad --volumes-from mode: %v", err)
	}

	users, err := s.VolumeUsers(ctx, "alice@example.com", "db")
	if err != nil || !slices.Contains(users, src.ID) || !slices.Contains(users, dst.ID) {
		t.Fatalf("VolumeUsers(db) = %v, %v", users, err)
	}
	// rm without -v keeps the anonymous volumes; rm -v asks to remove them (the volumes package keeps those in use).
	if err := s.Remove(ctx, alice, "dst", true, false); err != nil {
		t.Fatal(err)
	}
	if len(vols.removed) != 0 {
		t.Fatalf("rm without -v removed %v", vols.removed)
	}
	if err := s.Remove(ctx, alice, "src", true, true); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vols.removed, []string{src.Mounts[0].Name}) {
		t.Fatalf("rm -v removed %v, want only the anonymous %s", vols.removed, src.Mounts[0].Name)
	}

	// Without a volumes service, a create naming a volume says volumes are off; a tmpfs needs none.
	plain := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
	defer plain.Close()
	if _, err := plain.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{Binds: []string{"db:/data"}}}); !errdefs.IsNotImplemented(err) {
		t.Fatalf("volume without a volumes service: %v", err)
	}
	if _, err := plain.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{Tmpfs: map[string]string{"/t": ""}}}); err != nil {
		t.Fatalf("tmpfs without a volumes service: %v", err)
	}
	// An image's VOLUME stays a directory of the container there, as before runsock had volumes.
	c, err := plain.Create(ctx, alice, containers.CreateRequest{Config: container.Config{Image: "alpine", Volumes: map[string]struct{}{"/db": {}}}})
	if err != nil || len(c.Mounts) != 0 {
		t.Fatalf("image VOLUME without a volumes service: %+v, %v", c, err)
	}
}

// fakeCopier records the copy-ups asked for; fail makes them fail.
type fakeCopier struct {
	mu     sync.Mutex
	copies []string // destination → prefix
	fail   error
}

func (f *fakeCopier) CopyUp(_ context.Context, image, destination, prefix string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return false, f.fail
	}
	f.copies = append(f.copies, destination+" → "+prefix)
	return true, nil
}

// TestCopyUpAtCreate: the image's files are copied into each volume at create, as Docker does, except with
// nocopy / volume-nocopy, for tmpfs, and for volumes shared by --volumes-from; a failed copy fails the create and
// removes the anonymous volumes it made.
func TestCopyUpAtCreate(t *testing.T) {
	ctx := context.Background()
	st, l, vols, cp := containerstest.NewStore(), containerstest.NewLauncher(), &fakeVolumes{vols: map[string]bool{}}, &fakeCopier{}
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}, Volumes: vols, Copier: cp})
	defer s.Close()

	src, err := s.Create(ctx, alice, containers.CreateRequest{Name: "src", Config: container.Config{Image: "alpine", Volumes: map[string]struct{}{"/anon": {}}},
		HostConfig: container.HostConfig{Binds: []string{"db:/data", "etc:/etc:nocopy"}, Tmpfs: map[string]string{"/t": ""},
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "logs", Target: "/logs", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/anon → " + src.Mounts[0].Prefix, "/data → v1/alice@example.com/db/"}
	if !slices.Equal(cp.copies, want) {
		t.Fatalf("copy-ups = %q, want %q", cp.copies, want)
	}
	cp.copies = nil
	if _, err := s.Create(ctx, alice, containers.CreateRequest{Name: "from", Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{VolumesFrom: []string{"src"}}}); err != nil {
		t.Fatal(err)
	}
	if len(cp.copies) != 0 {
		t.Fatalf("--volumes-from copied into the source's volumes: %q", cp.copies)
	}

	cp.fail = errdefs.ErrUnavailable
	_, err = s.Create(ctx, alice, containers.CreateRequest{Name: "failed", Config: container.Config{Image: "alpine", Volumes: map[string]struct{}{"/anon": {}}}})
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "failed to copy existing image contents to volume") {
		t.Fatalf("create with a failed copy-up: %v", err)
	}
	if len(vols.removed) != 1 || len(vols.removed[0]) != 64 {
		t.Fatalf("the failed create's anonymous volume was not removed: %q", vols.removed)
	}
	if _, err := s.Resolve(ctx, alice, "failed"); !errdefs.IsNotFound(err) {
		t.Fatalf("a failed create left a container: %v", err)
	}
}
