package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tarEntries reads docker cp's tar output (cp c:path -) into name → contents.
func tarEntries(t *testing.T, b string) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader([]byte(b)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		out[h.Name] = h
	}
}

// TestCopyIntoCreatedContainer: files copied into a container before it starts are there, with their modes and
// owners, when its process starts, and the created container's files can be read without starting it.
func TestCopyIntoCreatedContainer(t *testing.T) {
	name := uniqueName("cp-created")
	removeOnCleanup(t, name)
	script := `for p in /tmp/in.txt /tmp/tree /tmp/tree/sub/b.txt /etc/owned.txt /tmp/later.txt; do ` +
		`[ -e $p ] && stat -c '%a %u:%g %n' $p || echo "missing $p"; done; cat /tmp/in.txt /tmp/tree/sub/b.txt`
	mustDocker(t, "create", "--name", name, "alpine", "sh", "-c", script)

	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("hello\n"), 0o640)
	os.Chmod(in, 0o640)
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o750)
	os.Chmod(tree, 0o750)
	os.WriteFile(filepath.Join(tree, "sub", "b.txt"), []byte("B\n"), 0o600)
	owned := filepath.Join(dir, "owned.txt")
	os.WriteFile(owned, []byte("mine"), 0o644)
	if err := os.Chown(owned, 1234, 2345); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, "cp", in, name+":/tmp/in.txt")
	mustDocker(t, "cp", tree, name+":/tmp/")
	mustDocker(t, "cp", "-a", owned, name+":/etc/") // archive mode: copyUIDGID

	// Read back without starting: the image's layers plus the staged archives.
	got := tarEntries(t, mustDocker(t, "cp", name+":/tmp/in.txt", "-"))
	if h := got["in.txt"]; h == nil || h.Size != 6 || h.Mode&0o777 != 0o640 {
		t.Errorf("cp of a staged file out of the created container: %v", got)
	}
	got = tarEntries(t, mustDocker(t, "cp", name+":/etc/hostname", "-"))
	if h := got["hostname"]; h == nil || h.Typeflag != tar.TypeSymlink && h.Size == 0 {
		t.Errorf("cp of an image file out of the created container: %v", got)
	}
	got = tarEntries(t, mustDocker(t, "cp", name+":/tmp/tree", "-"))
	if got["tree/"] == nil || got["tree/sub/b.txt"] == nil {
		t.Errorf("cp of a staged directory out of the created container: %v", got)
	}
	if r := docker(t, "cp", name+":/no/such/file", dir); r.code == 0 || !strings.Contains(r.stderr, "Could not find the file /no/such/file") {
		t.Errorf("cp of a missing path out of a created container: %s", r)
	}
	if r := docker(t, "cp", in, name+":/no/such/dir/"); r.code == 0 {
		t.Errorf("cp into a missing directory of a created container succeeded: %s", r)
	}

	r := docker(t, "start", "-a", name)
	want := "640 0:0 /tmp/in.txt\n750 0:0 /tmp/tree\n600 0:0 /tmp/tree/sub/b.txt\n644 1234:2345 /etc/owned.txt\n" +
		"missing /tmp/later.txt\nhello\nB\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("start -a after cp: %s\nwant stdout %q", r, want)
	}

	// Into the exited container, for its next start (which, as in Docker, still has the earlier files).
	later := filepath.Join(dir, "later.txt")
	os.WriteFile(later, []byte("later"), 0o644)
	mustDocker(t, "cp", later, name+":/tmp/later.txt")
	r = docker(t, "start", "-a", name)
	if r.code != 0 || !strings.Contains(r.stdout, "644 0:0 /tmp/later.txt\n") || !strings.Contains(r.stdout, "640 0:0 /tmp/in.txt\n") {
		t.Fatalf("start -a after cp into the exited container: %s", r)
	}
}

// TestCopyOutOfExitedContainer: the files an exited container's process wrote are kept (one layer captured when it
// ended) and docker cp reads them, byte for byte; a deleted image file is gone; a missing path is Docker's 404.
func TestCopyOutOfExitedContainer(t *testing.T) {
	name := uniqueName("cp-exited")
	removeOnCleanup(t, name)
	script := `mkdir -p /out && i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done > /out/report.txt; ` +
		`chmod 600 /out/report.txt; rm /etc/group; echo done`
	start := time.Now()
	if out := mustDocker(t, "run", "--name", name, "alpine", "sh", "-c", script); out != "done\n" {
		t.Fatalf("run = %q", out)
	}
	t.Logf("docker run returned after %v", time.Since(start))
	var want strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}

	dir := t.TempDir()
	start = time.Now()
	mustDocker(t, "cp", name+":/out/report.txt", dir)
	t.Logf("docker cp out of the exited container took %v", time.Since(start))
	if b, err := os.ReadFile(filepath.Join(dir, "report.txt")); err != nil || string(b) != want.String() {
		t.Fatalf("copied report.txt: %d bytes, err %v; want %d bytes", len(b), err, want.Len())
	}
	got := tarEntries(t, mustDocker(t, "cp", name+":/out", "-"))
	if h := got["out/report.txt"]; h == nil || h.Mode&0o777 != 0o600 || h.Size != int64(want.Len()) {
		t.Errorf("cp of /out: %v", got)
	}
	if got := tarEntries(t, mustDocker(t, "cp", name+":/etc/passwd", "-")); got["passwd"] == nil {
		t.Errorf("an image file of the exited container: %v", got)
	}
	// docker diff as a local Docker Engine prints it for the same commands.
	if out := mustDocker(t, "diff", name); out != "C /etc\nD /etc/group\nA /out\nA /out/report.txt\n" {
		t.Errorf("docker diff = %q", out)
	}
	exported := mustDocker(t, "export", name)
	if got := tarEntries(t, exported); got["out/report.txt"] == nil || got["etc/passwd"] == nil || got["etc/group"] != nil {
		t.Errorf("docker export lists %d entries; out/report.txt %v, etc/passwd %v, etc/group (deleted) %v",
			len(got), got["out/report.txt"] != nil, got["etc/passwd"] != nil, got["etc/group"] != nil)
	}
	for _, p := range []string{"/no/such/file", "/etc/group"} {
		if r := docker(t, "cp", name+":"+p, dir); r.code == 0 || !strings.Contains(r.stderr, "Could not find the file "+p) {
			t.Errorf("cp of %s (missing, or deleted by the process): %s", p, r)
		}
	}
}

// TestCaptureCost measures what keeping an exited container's files costs: docker run's wall time (the capture
// must not add to it: it starts once the exit is recorded), and the time from docker run's return until docker cp
// has the file (the capture's walk, transfer and push, then the read from the registry), for 1 MiB and 100 MiB of
// changes. The figures are logged (go test -v) and recorded in docs/files.md.
func TestCaptureCost(t *testing.T) {
	for _, mib := range []int{1, 100} {
		name := uniqueName("capture-cost")
		removeOnCleanup(t, name)
		script := fmt.Sprintf("mkdir -p /out && dd if=/dev/urandom of=/out/blob bs=1048576 count=%d 2>/dev/null && sha256sum /out/blob", mib)
		start := time.Now()
		out := mustDocker(t, "run", "--name", name, "alpine", "sh", "-c", script)
		ran := time.Since(start)
		dir := t.TempDir()
		start = time.Now()
		mustDocker(t, "cp", name+":/out/blob", dir)
		kept := time.Since(start)
		if got := sha256File(t, filepath.Join(dir, "blob")); !strings.HasPrefix(out, got) {
			t.Fatalf("%d MiB: copied blob %s, the container's %q", mib, got, out)
		}
		t.Logf("capture of %d MiB: docker run %v; docker run's return → docker cp done %v", mib, ran.Round(time.Millisecond), kept.Round(time.Millisecond))
	}
}
