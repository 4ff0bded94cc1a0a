package images

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Distribution inspect describes what the registry holds without recording anything: an image's manifest and
// its config's platform; an index and each manifest's platform; a name it lacks is not found.
func TestDistribution(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.push(t, f.hub+"/library/single:1")
	d, err := f.svc.Distribution(ctx, "single:1")
	if err != nil {
		t.Fatal(err)
	}
	dig, _ := img.Digest()
	size, _ := img.Size()
	mt, _ := img.MediaType()
	if d.Descriptor.Digest.String() != dig.String() || d.Descriptor.Size != size || d.Descriptor.MediaType != string(mt) {
		t.Errorf("descriptor %+v, want %s %d %s", d.Descriptor, dig, size, mt)
	}
	if len(d.Platforms) != 1 || d.Platforms[0].OS != "linux" || d.Platforms[0].Architecture != "amd64" {
		t.Errorf("platforms %+v, want linux/amd64", d.Platforms)
	}

	arm, _ := random.Image(32, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	r, _ := name.ParseReference(f.host + "/team/multi:1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	d, err = f.svc.Distribution(ctx, f.host+"/team/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	idig, _ := idx.Digest()
	if d.Descriptor.Digest.String() != idig.String() || len(d.Platforms) != 2 || d.Platforms[1].Architecture != "arm64" || d.Platforms[1].Variant != "v8" {
		t.Errorf("index: %+v", d)
	}

	if _, err := f.svc.Distribution(ctx, "nosuch:1"); !errdefs.IsNotFound(err) {
		t.Errorf("a name the registry lacks: %v, want not found", err)
	}
	if _, err := f.svc.Distribution(ctx, "NOT//valid"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("an invalid name: %v, want invalid argument", err)
	}
}

// History lists the config's steps newest first, each step that made a layer with that layer's size, the image's ID
// and tags on the newest only.
func TestHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img, _ := random.Image(64, 2)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	t0 := time.Unix(1_700_000_000, 0).UTC()
	cf.History = []v1.History{
		{Created: v1.Time{Time: t0}, CreatedBy: "ADD rootfs /"},
		{Created: v1.Time{Time: t0.Add(time.Minute)}, CreatedBy: "ENV A=b", EmptyLayer: true},
		{Created: v1.Time{Time: t0.Add(2 * time.Minute)}, CreatedBy: "RUN make", Comment: "buildkit"},
	}
	img, _ = mutate.ConfigFile(img, cf)
	r, _ := name.ParseReference(f.hub + "/library/hist:1")
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pull(t, "alice@example.com", "hist:1"); err != nil {
		t.Fatal(err)
	}
	h, err := f.svc.History(ctx, "alice@example.com", "hist:1")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	id, _ := img.ConfigName()
	if len(h) != 3 || h[0].CreatedBy != "RUN make" || h[0].Comment != "buildkit" || h[0].ID != "sha256:"+id.Hex ||
		len(h[0].Tags) != 1 || h[0].Tags[0] != "hist:1" || h[0].Size != m.Layers[1].Size ||
		h[1].Size != 0 || h[1].ID != "<missing>" || h[1].Tags != nil ||
		h[2].Size != m.Layers[0].Size || h[2].Created != t0.Unix() {
		t.Errorf("history %+v", h)
	}
	if _, err := f.svc.History(ctx, "bob@example.com", "hist:1"); !errdefs.IsNotFound(err) {
		t.Errorf("another user's image: %v, want not found", err)
	}
}
