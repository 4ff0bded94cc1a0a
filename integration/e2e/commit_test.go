package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// removeImageOnCleanup removes the image from runsock when the test ends.
func removeImageOnCleanup(t *testing.T, image string) {
	t.Cleanup(func() { docker(t, "rmi", "-f", image) })
}

// TestCommitExitedContainer: docker commit of an exited container makes an image docker images lists, with the
// --change instructions and -a applied, that docker run runs and that has the committed file; a change Docker
// refuses is refused the same way.
func TestCommitExitedContainer(t *testing.T) {
	name := uniqueName("commit")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "--name", name, "alpine", "sh", "-c", "mkdir -p /out && echo committed > /out/file.txt")
	image := uniqueName("e2e-committed") + ":v1"
	removeImageOnCleanup(t, image)
	id := strings.TrimSpace(mustDocker(t, "commit", "-m", "the build", "-a", "Ann <ann@example.com>",
		"--change", `CMD ["cat", "/out/file.txt"]`, "--change", "ENV GREETING=hello", name, image))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("docker commit printed %q, want an image ID", id)
	}
	if out := mustDocker(t, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); !strings.Contains(out, image+" "+id[7:19]) {
		t.Errorf("docker images does not list %s (%s):\n%s", image, id[7:19], out)
	}
	if out := mustDocker(t, "image", "inspect", "-f", "{{.ID}}|{{json .Config.Cmd}}|{{.Author}}", image); out != id+`|["cat","/out/file.txt"]|Ann <ann@example.com>`+"\n" {
		t.Errorf("image inspect = %q", out)
	}
	if env := mustDocker(t, "image", "inspect", "-f", "{{json .Config.Env}}", image); !strings.Contains(env, `"GREETING=hello"`) || !strings.Contains(env, `"PATH=`) {
		t.Errorf("image env = %s (want GREETING=hello and the base image's PATH)", env)
	}
	// docker history: the commit's entry on top, with the container's command and the message.
	hist := strings.Split(mustDocker(t, "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", image), "\n")
	if want := id + "|sh -c mkdir -p /out && echo committed > /out/file.txt|the build"; hist[0] != want || len(hist) < 2 {
		t.Errorf("docker history = %q, want first %q", hist, want)
	}
	if out := mustDocker(t, "run", "--rm", image); out != "committed\n" {
		t.Errorf("docker run of the committed image (its CMD) = %q", out)
	}
	if out := mustDocker(t, "run", "--rm", image, "sh", "-c", "echo $GREETING; cat /out/file.txt"); out != "hello\ncommitted\n" {
		t.Errorf("docker run of the committed image with a command = %q", out)
	}
	if r := docker(t, "commit", "--change", "RUN echo hi", name, image); r.code == 0 || !strings.Contains(r.stderr, "run is not a valid change command") {
		t.Errorf("commit with a RUN change: %s", r)
	}
	if r := docker(t, "commit", name, "Not/Valid"); r.code == 0 || !strings.Contains(r.stderr, "invalid reference format") {
		t.Errorf("commit to an invalid name: %s", r)
	}
}

// TestRunningContainerFiles: docker diff, export and commit of a running container read its files through its
// agent's capture on demand; docker diff prints what the reference Docker Engine prints for the same commands,
// and the container keeps running.
func TestRunningContainerFiles(t *testing.T) {
	refImage := referenceAlpine(t)
	script := "mkdir /live && echo now > /live/f && rm /etc/group && exec sleep 600"
	name := runDetached(t, "live-files", "sh", "-c", script)
	waitFor(t, 30*time.Second, "/live/f", func() bool { return docker(t, "exec", name, "test", "-f", "/live/f").code == 0 })
	t.Cleanup(func() { refDocker(t, "rm", "-f", name) })
	mustRefDocker(t, "run", "-d", "--name", name, refImage, "sh", "-c", script)
	waitFor(t, 30*time.Second, "/live/f on the reference", func() bool { return refDocker(t, "exec", name, "test", "-f", "/live/f").code == 0 })

	got, want := sortedLines(mustDocker(t, "diff", name)), sortedLines(mustRefDocker(t, "diff", name))
	if got != want {
		t.Errorf("docker diff of a running container:\nrunsock:\n%sreference Docker Engine:\n%s", got, want)
	}
	if files := tarEntries(t, mustDocker(t, "export", name)); files["live/f"] == nil || files["etc/group"] != nil || files["etc/passwd"] == nil {
		t.Errorf("docker export of a running container: live/f %v, etc/group (deleted) %v", files["live/f"] != nil, files["etc/group"] != nil)
	}
	image := uniqueName("e2e-live-commit")
	removeImageOnCleanup(t, image)
	mustDocker(t, "commit", name, image)
	if out := mustDocker(t, "run", "--rm", image, "cat", "/live/f"); out != "now\n" {
		t.Errorf("run of the image committed from a running container: %q", out)
	}
	if state := mustDocker(t, "inspect", "-f", "{{.State.Running}}", name); state != "true\n" {
		t.Errorf("the committed container is no longer running: %q", state)
	}
}

// TestDiffAsDockerEngine: the same steps on runsock and on the reference Docker Engine — files copied into a
// created container, then a process that adds, modifies and deletes — give the same docker diff, created and
// exited.
func TestDiffAsDockerEngine(t *testing.T) {
	refImage := referenceAlpine(t)
	name := uniqueName("diff-ref")
	removeOnCleanup(t, name)
	t.Cleanup(func() { refDocker(t, "rm", "-f", name) })
	script := "mkdir -p /out/sub && echo hi > /out/sub/f && echo more >> /etc/passwd && rm /etc/group && " +
		"rm /tmp/gone.txt && echo changed > /tmp/kept.txt && touch /tmp/new"
	if r, ref := onBothWith(t, refImage, "create", "--name", name, "alpine", "sh", "-c", script); r.code != 0 || ref.code != 0 {
		t.Fatalf("create: runsock %s\nreference %s", r, ref)
	}
	dir := t.TempDir()
	for _, f := range []string{"kept.txt", "gone.txt"} {
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "sub", "x"), []byte("x"), 0o644)
	for _, cp := range [][2]string{{"kept.txt", "/tmp/"}, {"gone.txt", "/tmp/gone.txt"}, {"tree", "/etc/"}} {
		if r, ref := onBothWith(t, refImage, "cp", filepath.Join(dir, cp[0]), name+":"+cp[1]); r.code != 0 || ref.code != 0 {
			t.Fatalf("cp %s: runsock %s\nreference %s", cp[0], r, ref)
		}
	}
	r, ref := onBothWith(t, refImage, "diff", name)
	if r.code != 0 || sortedLines(r.stdout) != sortedLines(ref.stdout) {
		t.Errorf("docker diff of a created container:\nrunsock: %s\nreference Docker Engine:\n%s", r, ref.stdout)
	}
	if r, ref := onBothWith(t, refImage, "start", "-a", name); r.code != 0 || ref.code != 0 {
		t.Fatalf("start -a: runsock %s\nreference %s", r, ref)
	}
	r, ref = onBothWith(t, refImage, "diff", name)
	if r.code != 0 || sortedLines(r.stdout) != sortedLines(ref.stdout) {
		t.Errorf("docker diff of the exited container:\nrunsock: %s\nreference Docker Engine:\n%s", r, ref.stdout)
	}
	t.Logf("docker diff of the exited container, as both print it:\n%s", ref.stdout)
}

// TestCaptureLimitLabel: a container labelled runsock.capture-limit over that limit says, when asked for its files
// (cp, diff, export, commit), that they were not kept and why; under it they are kept; a bad label is refused at
// create; a running container over its limit says its files cannot be read whole.
func TestCaptureLimitLabel(t *testing.T) {
	over := uniqueName("over-limit")
	removeOnCleanup(t, over)
	mustDocker(t, "run", "--name", over, "--label", "runsock.capture-limit=4k", "alpine", "sh", "-c",
		"dd if=/dev/zero of=/big bs=1024 count=16 2>/dev/null")
	dir := t.TempDir()
	for _, args := range [][]string{{"cp", over + ":/big", dir}, {"diff", over}, {"export", over}, {"commit", over}} {
		r := docker(t, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "its files were not kept") || !strings.Contains(r.stderr, "over the capture limit (4096 bytes)") {
			t.Errorf("docker %s of a container over its capture limit: %s", args[0], r)
		}
	}

	under := uniqueName("under-limit")
	removeOnCleanup(t, under)
	mustDocker(t, "run", "--name", under, "--label", "runsock.capture-limit=64k", "alpine", "sh", "-c", "echo small > /small")
	if got := tarEntries(t, mustDocker(t, "cp", under+":/small", "-")); got["small"] == nil || got["small"].Size != 6 {
		t.Errorf("cp from a container under its capture limit: %v", got)
	}

	if r := docker(t, "create", "--label", "runsock.capture-limit=lots", "alpine", "true"); r.code == 0 || !strings.Contains(r.stderr, "runsock.capture-limit") {
		t.Errorf("create with a bad capture-limit label: %s", r)
	}

	running := uniqueName("running-over-limit")
	removeOnCleanup(t, running)
	mustDocker(t, "run", "-d", "--name", running, "--label", "runsock.capture-limit=4k", "alpine", "sh", "-c",
		"dd if=/dev/zero of=/big bs=1024 count=16 2>/dev/null; exec sleep 600")
	waitFor(t, 60*time.Second, "/big", func() bool { return docker(t, "exec", running, "test", "-f", "/big").code == 0 })
	if r := docker(t, "diff", running); r.code == 0 || !strings.Contains(r.stderr, "cannot be read whole") || !strings.Contains(r.stderr, "over the capture limit") {
		t.Errorf("diff of a running container over its capture limit: %s", r)
	}
}

// TestCopyOutOfExitedContainerAfterRestart: a container started again keeps its earlier runs' files (Docker keeps a
// container's filesystem across restarts): the same steps on runsock and on the reference Docker Engine print the
// same, and docker cp and docker diff afterwards agree.
func TestCopyOutOfExitedContainerAfterRestart(t *testing.T) {
	refImage := referenceAlpine(t)
	name := uniqueName("restart-keeps")
	removeOnCleanup(t, name)
	t.Cleanup(func() { refDocker(t, "rm", "-f", name) })
	script := "cat /count 2>/dev/null; echo run >> /count; if [ -e /etc/group ]; then rm /etc/group; echo removed; fi"
	if r, ref := onBothWith(t, refImage, "create", "--name", name, "alpine", "sh", "-c", script); r.code != 0 || ref.code != 0 {
		t.Fatalf("create: runsock %s\nreference %s", r, ref)
	}
	for i, want := range []string{"removed\n", "run\n", "run\nrun\n"} {
		r, ref := onBothWith(t, refImage, "start", "-a", name)
		if r.code != 0 || r.stdout != ref.stdout || ref.stdout != want {
			t.Fatalf("start %d: runsock %s\nreference %s\nwant stdout %q", i+1, r, ref, want)
		}
	}
	got := tarEntries(t, mustDocker(t, "cp", name+":/count", "-"))
	if h := got["count"]; h == nil || h.Size != int64(len("run\nrun\nrun\n")) {
		t.Errorf("cp of /count after three runs: %v", got)
	}
	if r, ref := onBothWith(t, refImage, "diff", name); r.code != 0 || sortedLines(r.stdout) != sortedLines(ref.stdout) {
		t.Errorf("docker diff after three runs:\nrunsock: %s\nreference Docker Engine:\n%s", r, ref.stdout)
	}
}
