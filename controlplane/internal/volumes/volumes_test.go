package volumes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/runsock/runsock/controlplane/internal/volumes"
	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/storage"
)

// These tests run on the Firestore emulator (FIRESTORE_EMULATOR_HOST) and gcpsim's Cloud Storage, the real
// JSON API the control plane reaches on Google.

const (
	bucket = "p-runsock-volumes"
	cpSA   = "runsock-cp@p.iam.gserviceaccount.com"
	alice  = "alice@example.com"
	bob    = "bob@example.com"
)

// users plays the containers side: map owner/name → container IDs; events are recorded under the key "events".
type users map[string][]string

func (u users) VolumeUsers(_ context.Context, owner, name string) ([]string, error) {
	return u[owner+"/"+name], nil
}

func (u users) PublishVolume(_ context.Context, owner, action, name string, _ map[string]string) {
	u["events"] = append(u["events"], action+" "+owner+"/"+name)
}

type fixture struct {
	svc   *volumes.Service
	users users
	dir   string // the bucket's directory in gcpsim
}

func setup(t *testing.T) *fixture {
	t.Helper()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	fs, err := firestore.NewClient(ctx, "volumes-test-"+hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })

	tokens, err := accesstoken.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gcs, err := storage.New(storage.Config{Dir: dir, Buckets: []string{bucket},
		Bindings: []storage.Binding{{Bucket: bucket, Role: "roles/storage.objectUser", Member: "serviceAccount:" + cpSA}},
		VerifyAccessToken: func(tok string) (string, time.Time, error) {
			tk, err := tokens.Verify(tok)
			return tk.Email, tk.Expires, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gcs)
	t.Cleanup(srv.Close)
	tok, _ := tokens.Mint(cpSA)
	bk, err := volumes.NewBucket(ctx, bucket, srv.URL, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.Value, Expiry: tok.Expires})))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{users: users{}, dir: filepath.Join(dir, bucket)}
	f.svc = volumes.New(fs, volumes.Config{Bucket: bucket, Objects: bk})
	f.svc.SetUsers(f.users)
	return f
}

// put writes a file into the volume as a task's mount of it would.
func (f *fixture) put(t *testing.T, owner, volume, name, data string) {
	t.Helper()
	p := filepath.Join(f.dir, filepath.FromSlash(volumes.Prefix(owner, volume)), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) exists(owner, volume, name string) bool {
	_, err := os.Stat(filepath.Join(f.dir, filepath.FromSlash(volumes.Prefix(owner, volume)), name))
	return err == nil
}

func names(vs []*volumes.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestCreateGetPerOwner(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	v, err := f.svc.Create(ctx, alice, volumes.CreateRequest{Name: "data", Labels: map[string]string{"team": "a"}})
	if err != nil || v.Name != "data" || v.Labels["team"] != "a" {
		t.Fatalf("create: %+v, %v", v, err)
	}
	if got := f.svc.Mountpoint(v); got != "gs://"+bucket+"/v1/"+volumes.OwnerKey(alice)+"/data/" {
		t.Fatalf("mountpoint %q", got)
	}
	// Again, with other labels: Docker returns the volume as it is.
	again, err := f.svc.Create(ctx, alice, volumes.CreateRequest{Name: "data", Labels: map[string]string{"team": "b"}})
	if err != nil || again.Labels["team"] != "a" {
		t.Fatalf("create again: %+v, %v", again, err)
	}
	// Bob has no volume "data": volumes are per user, like containers.
	if _, err := f.svc.Get(ctx, bob, "data"); !errdefs.IsNotFound(err) || err.Error() != "get data: no such volume" {
		t.Fatalf("bob get: %v", err)
	}
	if err := f.svc.Remove(ctx, bob, "data", false); !errdefs.IsNotFound(err) {
		t.Fatalf("bob remove: %v", err)
	}
	if _, err := f.svc.Get(ctx, alice, "data"); err != nil {
		t.Fatalf("alice's volume after bob's remove: %v", err)
	}
	anon, err := f.svc.Create(ctx, alice, volumes.CreateRequest{})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("create without a name: %+v, %v", anon, err)
	}
	for _, tc := range []struct {
		req  volumes.CreateRequest
		kind func(error) bool
		want string
	}{
		{volumes.CreateRequest{Name: "xx", Driver: "nfs"}, errdefs.IsNotFound, `plugin "nfs" not found`},
		{volumes.CreateRequest{Name: "xx", DriverOpts: map[string]string{"type": "tmpfs"}}, errdefs.IsInvalidArgument, "take no driver options"},
		{volumes.CreateRequest{Name: "x"}, errdefs.IsInvalidArgument, "volume name is too short"},
		{volumes.CreateRequest{Name: "/abs"}, errdefs.IsInvalidArgument, "invalid characters"},
		{volumes.CreateRequest{Name: "a/b"}, errdefs.IsInvalidArgument, "invalid characters"},
	} {
		if _, err := f.svc.Create(ctx, alice, tc.req); !tc.kind(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create %+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	if list, _ := f.svc.List(ctx, alice, nil); len(list) != 2 {
		t.Fatalf("refused creates left volumes: %v", names(list))
	}
	if ev := f.users["events"]; len(ev) != 3 || ev[0] != "create "+alice+"/data" || ev[1] != ev[0] || ev[2] != "create "+alice+"/"+anon.Name {
		t.Fatalf("events %v: want a create per create call, of an existing volume too (as the reference engine)", ev)
	}
}

func TestListFilters(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, n := range []string{"cache", "db", "dbold"} {
		if _, err := f.svc.Create(ctx, alice, volumes.CreateRequest{Name: n, Labels: map[string]string{"kind": n[:2]}}); err != nil {
			t.Fatal(err)
		}
	}
	f.users[alice+"/db"] = []string{"c1"}
	for _, tc := range []struct {
		filters map[string][]string
		want    string
	}{
		{nil, "cache,db,dbold"},
		{map[string][]string{"name": {"db"}}, "db,dbold"},
		{map[string][]string{"label": {"kind=db"}}, "db,dbold"},
		{map[string][]string{"label": {"kind"}}, "cache,db,dbold"},
		{map[string][]string{"dangling": {"true"}}, "cache,dbold"},
		{map[string][]string{"dangling": {"false"}}, "db"},
		{map[string][]string{"driver": {"local"}}, "cache,db,dbold"},
	} {
		list, err := f.svc.List(ctx, alice, tc.filters)
		if err != nil || strings.Join(names(list), ",") != tc.want {
			t.Errorf("list %v: %v, %v; want %s", tc.filters, names(list), err, tc.want)
		}
	}
	if _, err := f.svc.List(ctx, alice, map[string][]string{"bogus": {"x"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown filter: %v", err)
	}
	if list, _ := f.svc.List(ctx, bob, nil); len(list) != 0 {
		t.Errorf("bob lists alice's volumes: %v", names(list))
	}
}

func TestRemoveDeletesOnlyItsFiles(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, n := range []string{"aa", "aab"} {
		if _, err := f.svc.Create(ctx, alice, volumes.CreateRequest{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Create(ctx, bob, volumes.CreateRequest{Name: "aa"}); err != nil {
		t.Fatal(err)
	}
	f.put(t, alice, "aa", "dir/file", "1")
	f.put(t, alice, "aab", "file", "2")
	f.put(t, bob, "aa", "file", "3")

	f.users[alice+"/aa"] = []string{"c1", "c2"}
	err := f.svc.Remove(ctx, alice, "aa", true)
	if !errdefs.IsConflict(err) || err.Error() != "remove aa: volume is in use - [c1, c2]" {
		t.Fatalf("remove in use: %v", err)
	}
	if !f.exists(alice, "aa", "dir/file") {
		t.Fatal("a refused remove deleted files")
	}
	delete(f.users, alice+"/aa")
	if err := f.svc.Remove(ctx, alice, "aa", false); err != nil {
		t.Fatal(err)
	}
	if f.exists(alice, "aa", "dir/file") || !f.exists(alice, "aab", "file") || !f.exists(bob, "aa", "file") {
		t.Fatalf("after rm aa: aa/dir/file %v (want gone), aab/file %v, bob's aa/file %v (want kept)",
			f.exists(alice, "aa", "dir/file"), f.exists(alice, "aab", "file"), f.exists(bob, "aa", "file"))
	}
	if ev := f.users["events"]; ev[len(ev)-1] != "destroy "+alice+"/aa" {
		t.Fatalf("events %v: want a destroy last", ev)
	}
	if err := f.svc.Remove(ctx, alice, "aa", false); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v", err)
	}
	if err := f.svc.Remove(ctx, alice, "aa", true); err != nil {
		t.Fatalf("second remove with force: %v", err)
	}
}

func TestPruneAndAnonymous(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	named, _ := f.svc.Create(ctx, alice, volumes.CreateRequest{Name: "named"})
	a1, _, err := f.svc.Ensure(ctx, alice, "", true)
	if err != nil {
		t.Fatal(err)
	}
	a2, _, _ := f.svc.Ensure(ctx, alice, "", true)
	a3, _, _ := f.svc.Ensure(ctx, alice, "", true)
	f.put(t, alice, a1, "f", "12345")
	f.users[alice+"/"+a2] = []string{"c"}

	// RemoveAnonymous keeps named volumes and volumes still used.
	if err := f.svc.RemoveAnonymous(ctx, alice, []string{named.Name, a2, a3}); err != nil {
		t.Fatal(err)
	}
	list, _ := f.svc.List(ctx, alice, nil)
	got := names(list)
	if !slices.Contains(got, "named") || !slices.Contains(got, a2) || slices.Contains(got, a3) || !slices.Contains(got, a1) {
		t.Fatalf("after RemoveAnonymous(named, a2 in use, a3): %v", got)
	}
	deleted, freed, err := f.svc.Prune(ctx, alice, nil)
	if err != nil || !slices.Equal(deleted, []string{a1}) || freed != 5 {
		t.Fatalf("prune: %v, %d bytes, %v; want [%s], 5 bytes", deleted, freed, err, a1)
	}
	deleted, _, err = f.svc.Prune(ctx, alice, map[string][]string{"all": {"true"}})
	if err != nil || !slices.Equal(deleted, []string{"named"}) {
		t.Fatalf("prune all=true: %v, %v", deleted, err)
	}
	if _, _, err := f.svc.Prune(ctx, alice, map[string][]string{"until": {"1h"}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("prune with an unsupported filter: %v", err)
	}
}
