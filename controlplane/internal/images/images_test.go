package images

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/jsonstream"
)

type fixture struct {
	svc   *Service
	usage usage // the containers using each image, as the Service sees them
	host  string
	hub   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	project := fmt.Sprintf("images-test-%d", time.Now().UnixNano())
	fs, err := firestore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	hub := host + "/" + project + "/dockerhub"
	u := usage{}
	return &fixture{svc: New(fs, Config{DockerHubRemote: hub}, u), usage: u, host: host, hub: hub}
}

// push puts a random image with cmd in its config at repo:tag and returns it.
func (f *fixture) push(t *testing.T, ref string, cmd ...string) v1.Image {
	t.Helper()
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd, cf.Config.Labels = cmd, map[string]string{"team": "runsock"}
	cf.Created = v1.Time{Time: time.Now().Add(-time.Hour).Truncate(time.Second)}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return img
}

func (f *fixture) pull(t *testing.T, owner, ref string) ([]string, error) {
	var statuses []string
	err := f.svc.Pull(context.Background(), owner, PullRequest{Ref: ref}, func(m jsonstream.Message) error {
		statuses = append(statuses, strings.TrimSpace(m.Status+" "+m.ID))
		return nil
	})
	return statuses, err
}

func TestPullRecordsAndReportsLikeDocker(t *testing.T) {
	f := newFixture(t)
	img := f.push(t, f.hub+"/library/alpine:latest", "/bin/sh")
	cfgName, _ := img.ConfigName()
	dig, _ := img.Digest()

	got, err := f.pull(t, "alice@example.com", "alpine:latest")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Pulling from library/alpine latest", "Digest: " + dig.String(), "Status: Downloaded newer image for alpine:latest"}
	if got[0] != want[0] || got[len(got)-2] != want[1] || got[len(got)-1] != want[2] || len(got) != 5 {
		t.Errorf("progress = %q, want %q around 2 layer lines", got, want)
	}
	again, err := f.pull(t, "alice@example.com", "docker.io/library/alpine")
	if err != nil || again[len(again)-1] != "Status: Image is up to date for alpine:latest" {
		t.Errorf("second pull = %q, %v", again, err)
	}

	ctx := context.Background()
	for _, ref := range []string{"alpine", "alpine:latest", "docker.io/library/alpine:latest", cfgName.Hex[:12], "sha256:" + cfgName.Hex, "alpine@" + dig.String()} {
		insp, err := f.svc.Inspect(ctx, "alice@example.com", ref)
		if err != nil {
			t.Errorf("inspect %s: %v", ref, err)
			continue
		}
		if insp.ID != cfgName.String() || len(insp.RepoTags) != 1 || insp.RepoTags[0] != "alpine:latest" ||
			insp.RepoDigests[0] != "alpine@"+dig.String() || insp.Os != "linux" || insp.Config.Cmd[0] != "/bin/sh" {
			t.Errorf("inspect %s = %+v", ref, insp)
		}
	}
	res, err := f.svc.Resolve(ctx, "alice@example.com", "alpine")
	if err != nil || res.Reference != f.hub+"/library/alpine@"+dig.String() || res.Config.Cmd[0] != "/bin/sh" || res.ID != cfgName.String() {
		t.Errorf("resolve = %+v, %v", res, err)
	}
	if _, err := f.svc.Resolve(ctx, "bob@example.com", "alpine"); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such image: alpine" {
		t.Errorf("another owner resolves alice's image: %v", err)
	}
}

func TestPullErrorsAsDocker(t *testing.T) {
	f := newFixture(t)
	f.push(t, f.hub+"/library/alpine:latest")
	tests := []struct {
		ref, msg string
		kind     error
	}{
		{"alpine:nosuchtag", "manifest for alpine:nosuchtag not found: manifest unknown: ", errdefs.ErrNotFound},
		{"nosuchimage", "manifest for nosuchimage:latest not found: manifest unknown: ", errdefs.ErrNotFound},
		{"UPPER", "invalid reference format", errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		got, err := f.pull(t, "alice@example.com", tc.ref)
		if !errors.Is(err, tc.kind) || !strings.HasPrefix(err.Error(), tc.msg) || len(got) != 0 {
			t.Errorf("pull %s = %v (progress %q), want %q", tc.ref, err, got, tc.msg)
		}
	}
}

type usage map[string]string

func (u usage) ImageUsedBy(_ context.Context, _, id string) (string, error) { return u[id], nil }

func TestRepullTagListDeletePrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const alice = "alice@example.com"
	ref := f.host + "/p/runsock/app:1"
	old := f.push(t, ref, "old")
	if _, err := f.pull(t, alice, ref); err != nil {
		t.Fatal(err)
	}
	newer := f.push(t, ref, "new")
	if _, err := f.pull(t, alice, ref); err != nil {
		t.Fatal(err)
	}
	oldID, _ := old.ConfigName()
	newID, _ := newer.ConfigName()

	dangling, err := f.svc.List(ctx, alice, ListOptions{Filters: map[string][]string{"dangling": {"true"}}})
	if err != nil || len(dangling) != 1 || dangling[0].ID != oldID.String() {
		t.Fatalf("dangling after re-pull = %+v, %v", dangling, err)
	}
	if err := f.svc.Tag(ctx, alice, ref, "mine", "v2"); err != nil {
		t.Fatal(err)
	}
	byRef, err := f.svc.List(ctx, alice, ListOptions{Filters: map[string][]string{"reference": {"mine"}, "label": {"team=runsock"}}})
	if err != nil || len(byRef) != 1 || byRef[0].ID != newID.String() || len(byRef[0].RepoTags) != 2 {
		t.Fatalf("reference filter = %+v, %v", byRef, err)
	}
	f.usage[newID.String()] = strings.Repeat("c", 64)
	if _, err := f.svc.Delete(ctx, alice, newID.Hex[:12], DeleteOptions{}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("delete by ID with two names = %v, want conflict", err)
	}
	resp, err := f.svc.Delete(ctx, alice, "mine:v2", DeleteOptions{})
	if err != nil || len(resp) != 1 || resp[0].Untagged != "mine:v2" {
		t.Errorf("untag = %+v, %v", resp, err)
	}
	if _, err := f.svc.Delete(ctx, alice, ref, DeleteOptions{}); !errors.Is(err, errdefs.ErrConflict) ||
		!strings.Contains(err.Error(), "container cccccccccccc is using its referenced image") {
		t.Errorf("delete of an image in use = %v, want conflict", err)
	}
	rep, err := f.svc.Prune(ctx, alice, nil)
	if err != nil || len(rep.ImagesDeleted) == 0 || rep.ImagesDeleted[len(rep.ImagesDeleted)-1].Deleted != oldID.String() {
		t.Errorf("prune = %+v, %v", rep, err)
	}
	all, _ := f.svc.List(ctx, alice, ListOptions{})
	if len(all) != 1 || all[0].ID != newID.String() {
		t.Errorf("after prune = %+v", all)
	}
}
