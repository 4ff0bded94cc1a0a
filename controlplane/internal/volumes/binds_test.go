package volumes_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// bindArchive builds a bind's archive: names ending in "/" are directories, "NAME -> TARGET" symlinks, the others files
// followed by their contents.
func bindArchive(t *testing.T, entries ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(entries); i++ {
		name := entries[i]
		if n, target, ok := strings.Cut(name, " -> "); ok {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: target})
			continue
		}
		if name[len(name)-1] == '/' {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		i++
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(entries[i]))})
		tw.Write([]byte(entries[i]))
	}
	tw.Close()
	return &buf
}

// TestStagedBindRoundTrip: a staged bind holds the archive's files and empty directories under the owner's
// prefix; what a container changes in it (new, modified, deleted) is listed until synced; another user's ID names
// nothing of theirs.
func TestStagedBindRoundTrip(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	id, err := f.svc.StageBind(ctx, alice, bindArchive(t, "./", "a.txt", "one", "sub/", "sub/b.txt", "two", "empty/", "gone.txt", "bye", "link -> sub/b.txt"), false)
	if err != nil {
		t.Fatal(err)
	}
	prefix, file, err := f.svc.StagedBind(ctx, alice, id)
	if err != nil || prefix != volumes.BindFilesPrefix(alice, id) || file != "" {
		t.Fatalf("StagedBind = %q, %v", prefix, err)
	}
	root := filepath.Join(f.dir, filepath.FromSlash(prefix))
	if b, err := os.ReadFile(filepath.Join(root, "sub", "b.txt")); err != nil || string(b) != "two" {
		t.Fatalf("staged sub/b.txt = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "empty")); err != nil || !fi.IsDir() {
		t.Fatalf("empty directory not staged: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(root, "link")); err != nil || target != "sub/b.txt" {
		t.Fatalf("staged symlink: %q, %v", target, err)
	}
	if ch, err := f.svc.BindChanges(ctx, alice, id); err != nil || len(ch) != 0 {
		t.Fatalf("changes right after staging = %+v, %v", ch, err)
	}

	// Bob can neither mount, read, list nor remove alice's staging.
	if _, _, err := f.svc.StagedBind(ctx, bob, id); !errdefs.IsNotFound(err) {
		t.Fatalf("bob StagedBind: %v", err)
	}
	if _, err := f.svc.BindChanges(ctx, bob, id); !errdefs.IsNotFound(err) {
		t.Fatalf("bob BindChanges: %v", err)
	}
	if _, err := f.svc.BindFile(ctx, bob, id, "a.txt"); !errdefs.IsNotFound(err) {
		t.Fatalf("bob BindFile: %v", err)
	}
	if err := f.svc.RemoveBind(ctx, bob, id); !errdefs.IsNotFound(err) {
		t.Fatalf("bob RemoveBind: %v", err)
	}

	// A container writes through its mount (here: the bucket's directory, as gcpsim mounts it).
	time.Sleep(10 * time.Millisecond) // generations are modification times
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("changed"), 0o644)
	os.WriteFile(filepath.Join(root, "empty", "new.txt"), []byte("new"), 0o644)
	os.Remove(filepath.Join(root, "gone.txt"))
	os.Symlink("../a.txt", filepath.Join(root, "sub", "up"))
	ch, err := f.svc.BindChanges(ctx, alice, id)
	want := []volumes.BindChange{{Path: "a.txt", Size: 7}, {Path: "empty/new.txt", Size: 3}, {Path: "sub/up", Size: 8, Link: "../a.txt"}, {Path: "gone.txt", Deleted: true}}
	if err != nil || !reflect.DeepEqual(ch, want) {
		t.Fatalf("changes = %+v, %v; want %+v", ch, err, want)
	}
	rc, err := f.svc.BindFile(ctx, alice, id, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "changed" {
		t.Fatalf("BindFile = %q", b)
	}
	if _, err := f.svc.BindFile(ctx, alice, id, "../x"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("BindFile ../x: %v", err)
	}
	if err := f.svc.BindSynced(ctx, alice, id); err != nil {
		t.Fatal(err)
	}
	if ch, err := f.svc.BindChanges(ctx, alice, id); err != nil || len(ch) != 0 {
		t.Fatalf("changes after sync = %+v, %v", ch, err)
	}
	if err := f.svc.RemoveBind(ctx, alice, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.StagedBind(ctx, alice, id); !errdefs.IsNotFound(err) {
		t.Fatalf("StagedBind after remove: %v", err)
	}

	// A single-file bind: one file at the archive's top, its name recorded.
	fid, err := f.svc.StageBind(ctx, alice, bindArchive(t, "config.yml", "k: v\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, file, err := f.svc.StagedBind(ctx, alice, fid); err != nil || file != "config.yml" {
		t.Fatalf("single-file StagedBind = %q, %v", file, err)
	}
	for _, bad := range [][]string{{"a/config.yml", "x"}, {"a", "x", "b", "y"}, {"d/"}} {
		if _, err := f.svc.StageBind(ctx, alice, bindArchive(t, bad...), true); !errdefs.IsInvalidArgument(err) {
			t.Errorf("single-file staging of %v: %v", bad, err)
		}
	}
}

// TestStageBindRefuses: paths leaving the bind and special files are refused, and nothing is left behind.
func TestStageBindRefuses(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "a/../../b"} {
		if _, err := f.svc.StageBind(ctx, alice, bindArchive(t, name, "x"), false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "fifo", Typeflag: tar.TypeFifo})
	tw.Close()
	if _, err := f.svc.StageBind(ctx, alice, &buf, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("fifo: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "b1", volumes.OwnerKey(alice)))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
