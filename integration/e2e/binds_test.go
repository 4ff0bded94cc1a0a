package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Bind mounts of the laptop's files (docs/volumes.md): localproxy packs the source and the control plane mounts a
// staged copy; read-write binds' changes come back when the container exits. The reference engine runs on this
// machine, so the same directory is a valid bind source for both.

// bindTree makes a directory with nested files, an empty directory and a symlink, and returns its path.
func bindTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	for name, data := range map[string]string{
		"top.txt":           "top\n",
		"run.sh":            "#!/bin/sh\necho hi\n",
		"a/b/c/deep.txt":    "deep\n",
		"a/sibling.json":    `{"k": 1}`,
		"with space/x y.md": "spaces\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c/deep.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bindListing is what a program sees of a tree: each path's type, size, symlink target and contents' digest.
const bindListing = `cd /src && find . -mindepth 1 | sort | while read -r p; do
  if [ -L "$p" ]; then echo "$p link $(readlink "$p")";
  elif [ -d "$p" ]; then echo "$p dir";
  else echo "$p file $(stat -c %s "$p") $(md5sum < "$p" | cut -c1-32)"; fi; done`

// TestBindDirectorySeenInside: a bind of a directory with nested files, an empty directory, a symlink and spaces in
// names shows the same tree inside as on Docker (types, sizes, contents, link targets), and inspect shows it as
// Docker does (Type bind, Source the laptop path).
func TestBindDirectorySeenInside(t *testing.T) {
	dir := bindTree(t)
	var listings []string
	for _, e := range engines(t) {
		got := e.must(t, "run", "--rm", "-v", dir+":/src:ro", "alpine", "sh", "-c", bindListing)
		listings = append(listings, got)
		name := uniqueName("bind-inspect")
		e.must(t, "create", "--name", name, "--mount", "type=bind,src="+dir+",dst=/src", "alpine", "true")
		t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
		var mounts []struct {
			Type, Source, Destination, Mode, Propagation string
			RW                                           bool
		}
		if err := json.Unmarshal([]byte(e.must(t, "inspect", "-f", "{{json .Mounts}}", name)), &mounts); err != nil {
			t.Fatal(err)
		}
		if len(mounts) != 1 || mounts[0].Type != "bind" || mounts[0].Source != dir || mounts[0].Destination != "/src" || !mounts[0].RW || mounts[0].Propagation != "rprivate" {
			t.Errorf("%s: inspect Mounts = %+v", e.name, mounts)
		}
	}
	if listings[0] != listings[1] {
		t.Fatalf("the tree inside differs:\nrunsock:\n%s\ndocker:\n%s", listings[0], listings[1])
	}
	if !strings.Contains(listings[0], "./a/b/c/deep.txt file 5") || !strings.Contains(listings[0], "./link link a/b/c/deep.txt") {
		t.Fatalf("listing lacks the nested file or the symlink:\n%s", listings[0])
	}
}

// TestBindReadOnlyRefusesWrites: a `:ro` bind refuses writes as on Docker, and nothing reaches the laptop.
func TestBindReadOnlyRefusesWrites(t *testing.T) {
	dir := bindTree(t)
	for _, e := range engines(t) {
		r := e.docker(t, "run", "--rm", "-v", dir+":/src:ro", "alpine", "sh", "-c", "echo x > /src/new")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%s: write to a :ro bind: %s", e.name, r)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Fatal("a write to a :ro bind reached the laptop")
	}
}

// TestBindMissingSource: `-v` with a missing source creates it as a directory on the laptop, as Docker does;
// `--mount type=bind` with a missing source is Docker's error.
func TestBindMissingSource(t *testing.T) {
	base := t.TempDir()
	for _, e := range engines(t) {
		src := filepath.Join(base, e.name, "not", "there")
		e.must(t, "run", "--rm", "-v", src+":/m", "alpine", "true")
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			t.Errorf("%s: -v did not create the missing source: %v", e.name, err)
		}
		missing := filepath.Join(base, e.name, "mount-missing")
		r := e.docker(t, "run", "--rm", "--mount", "type=bind,src="+missing+",dst=/m", "alpine", "true")
		want := "invalid mount config for type \"bind\": bind source path does not exist: " + missing
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: --mount with a missing source: %s, want %q", e.name, r, want)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("%s: --mount created the missing source", e.name)
		}
	}
}

// bindSnapshot reads a tree as path → contents ("/" for directories, "-> target" for symlinks).
func bindSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case d.IsDir():
			out[rel] = "/"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func bindKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestBindChangesComeBack: what a container writes in a read-write bind (new, modified and deleted files, a new
// directory) is on the laptop when `docker run` returns, as on Docker (--rm included).
func TestBindChangesComeBack(t *testing.T) {
	const script = `echo new > /w/new.txt && echo modified > /w/top.txt && rm /w/a/sibling.json && mkdir -p /w/made/inside && echo in > /w/made/inside/f && rm -r "/w/with space"`
	var trees []map[string]string
	for _, e := range engines(t) {
		dir := bindTree(t)
		e.must(t, "run", "--rm", "-v", dir+":/w", "alpine", "sh", "-c", script)
		trees = append(trees, bindSnapshot(t, dir))
	}
	got, want := trees[0], trees[1]
	if strings.Join(bindKeys(got), ",") != strings.Join(bindKeys(want), ",") {
		t.Fatalf("laptop tree after the run:\nrunsock %v\ndocker  %v", bindKeys(got), bindKeys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, docker %q", k, got[k], v)
		}
	}
	if got["new.txt"] != "new\n" || got["top.txt"] != "modified\n" {
		t.Fatalf("changes not back: %v", got)
	}
}

// TestBindConflictKeepsLaptopCopy: a file changed both on the laptop and in the container while it ran keeps the
// laptop's version, the container's written beside it as NAME.runsock-container; the container's other changes
// come back; a file the container deleted but the laptop changed is kept. `localproxy sync` brings changes back
// while the container still runs.
func TestBindConflictKeepsLaptopCopy(t *testing.T) {
	dir := bindTree(t)
	name := uniqueName("bind-conflict")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "-v", dir+":/w", "alpine", "sleep", "300")
	waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return docker(t, "exec", name, "true").code == 0 })

	// On demand, while it runs.
	mustDocker(t, "exec", name, "sh", "-c", "echo early > /w/early.txt")
	out, err := exec.Command(filepath.Join(stack.root, ".dev", "bin", "localproxy"), "sync",
		"--socket", strings.TrimPrefix(stack.dockerHost, "unix://"), name).CombinedOutput()
	if err != nil {
		t.Fatalf("localproxy sync: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "early.txt")); string(b) != "early\n" {
		t.Fatalf("after localproxy sync, early.txt = %q (sync said %s)", b, out)
	}

	// Both sides change top.txt; the container also deletes a/sibling.json, which the laptop changes.
	if err := os.WriteFile(filepath.Join(dir, "top.txt"), []byte("laptop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "sibling.json"), []byte(`{"laptop": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, "exec", name, "sh", "-c", "echo container > /w/top.txt && rm /w/a/sibling.json && echo other > /w/other.txt")
	mustDocker(t, "kill", name)
	mustDocker(t, "wait", name) // answered once the changes are back

	snap := bindSnapshot(t, dir)
	for path, want := range map[string]string{
		"top.txt":                   "laptop\n",
		"top.txt.runsock-container": "container\n",
		"a/sibling.json":            `{"laptop": true}`,
		"other.txt":                 "other\n",
		"early.txt":                 "early\n",
	} {
		if snap[path] != want {
			t.Errorf("%s = %q, want %q", path, snap[path], want)
		}
	}
}

// TestBindSingleFile: a bind of one file (`-v ./config.yml:/etc/app/config.yml`) is read inside as on Docker, at a
// path the image lacks, and a write to it comes back to the laptop's file.
func TestBindSingleFile(t *testing.T) {
	for _, e := range engines(t) {
		dir := t.TempDir()
		file := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(file, []byte("k: laptop\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := e.must(t, "run", "--rm", "-v", file+":/etc/app/config.yml:ro", "alpine", "cat", "/etc/app/config.yml"); got != "k: laptop\n" {
			t.Errorf("%s: the file inside reads %q", e.name, got)
		}
		e.must(t, "run", "--rm", "-v", file+":/etc/app/config.yml", "alpine", "sh", "-c", "echo 'k: container' > /etc/app/config.yml")
		if b, _ := os.ReadFile(file); string(b) != "k: container\n" {
			t.Errorf("%s: after the run the laptop's file is %q", e.name, b)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s: the file's directory holds %d entries, want only the file", e.name, len(entries))
		}
	}
}

// bindProxy runs a localproxy for email on socket with its own state directory; stop kills it (a laptop gone
// offline) and waits for it.
func bindProxy(t *testing.T, email, socket, state string) (stop func()) {
	t.Helper()
	token := fmt.Sprintf("curl -fsS '%s/gcpsim/v1/idtoken?email=%s&audience=%s'", stack.issuer, email, stack.controlPlane)
	cmd := exec.Command(filepath.Join(stack.root, ".dev", "bin", "localproxy"), "--socket", socket, "--state-dir", state,
		"--url", stack.controlPlane, "--ca-file", stack.devCA, "--token-command", token)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
			os.Remove(socket)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("localproxy log:\n%s", logs.String())
		}
	})
	waitFor(t, 20*time.Second, "localproxy socket", func() bool { _, err := os.Stat(socket); return err == nil })
	return stop
}

// TestBindOfflineAtExit: when localproxy is not running as a container with a read-write bind exits, the changes
// wait in Cloud Storage and are written to the laptop when localproxy starts again.
func TestBindOfflineAtExit(t *testing.T) {
	email := uniqueName("bindoff") + "@example.com"
	tmp := t.TempDir()
	socket, state := filepath.Join(tmp, "docker.sock"), filepath.Join(tmp, "state")
	host := "unix://" + socket
	stop := bindProxy(t, email, socket, state)
	dir := bindTree(t)
	name := uniqueName("bind-offline")
	if r := dockerAs(t, host, "", "run", "-d", "--name", name, "-v", dir+":/w", "alpine", "sh", "-c", "sleep 4; echo offline > /w/offline.txt"); r.code != 0 {
		t.Fatal(r)
	}
	stop() // the laptop goes away while the container runs

	// Watch it exit through another localproxy of the same user (it staged nothing, so it writes nothing back).
	other := startLocalProxy(t, email)
	t.Cleanup(func() { dockerAs(t, other, "", "rm", "-f", name) })
	waitFor(t, 90*time.Second, name+" to exit", func() bool {
		r := dockerAs(t, other, "", "inspect", "-f", "{{.State.Status}}", name)
		return strings.TrimSpace(r.stdout) == "exited"
	})
	if _, err := os.Stat(filepath.Join(dir, "offline.txt")); err == nil {
		t.Fatal("the change reached the laptop while its localproxy was not running")
	}

	bindProxy(t, email, socket, state) // back online: the pending changes are written back
	waitFor(t, 30*time.Second, "offline.txt back on the laptop", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "offline.txt"))
		return string(b) == "offline\n"
	})
}
