package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// sdkFiles does, with the Go SDK on host, what testcontainers and Go programs do with a container's files: put an
// archive into a created container, stat it, start, wait, get the output back, diff, export and commit. It returns
// a transcript of what the engine answered, comparable between engines.
func sdkFiles(t *testing.T, host, image string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pull, err := c.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pull.Wait(ctx); err != nil {
		t.Fatalf("pull %s: %v", image, err)
	}
	pull.Close()
	var out strings.Builder
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: uniqueName("sdk-files"), Config: &container.Config{Image: image,
		Cmd: []string{"sh", "-c", "cat /tmp/in/hello.txt > /tmp/out.txt && rm /etc/group"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})

	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	tw.WriteHeader(&tar.Header{Name: "in/", Typeflag: tar.TypeDir, Mode: 0o750})
	tw.WriteHeader(&tar.Header{Name: "in/hello.txt", Typeflag: tar.TypeReg, Mode: 0o640, Size: 6})
	io.WriteString(tw, "hello\n")
	tw.Close()
	if _, err := c.CopyToContainer(ctx, created.ID, client.CopyToContainerOptions{DestinationPath: "/tmp", Content: &archive}); err != nil {
		t.Fatalf("put_archive into the created container: %v", err)
	}
	st, err := c.ContainerStatPath(ctx, created.ID, client.ContainerStatPathOptions{Path: "/tmp/in/hello.txt"})
	fmt.Fprintf(&out, "stat created: %s %d %v %v\n", st.Stat.Name, st.Stat.Size, st.Stat.Mode, err)
	_, err = c.ContainerStatPath(ctx, created.ID, client.ContainerStatPathOptions{Path: "/no/such"})
	fmt.Fprintf(&out, "stat missing: not found %v\n", cerrdefs.IsNotFound(err))

	wait := c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		fmt.Fprintf(&out, "exit: %d\n", res.StatusCode)
	case err := <-wait.Error:
		t.Fatalf("wait: %v", err)
	}

	got, err := c.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: "/tmp/out.txt"})
	if err != nil {
		t.Fatalf("get_archive from the exited container: %v", err)
	}
	fmt.Fprintf(&out, "get stat: %s %d %v\n", got.Stat.Name, got.Stat.Size, got.Stat.Mode)
	fmt.Fprintf(&out, "get tar: %s", tarListing(t, got.Content, true))
	got.Content.Close()

	diff, err := c.ContainerDiff(ctx, created.ID, client.ContainerDiffOptions{})
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	var lines []string // in the daemon's order, which is not fixed
	for _, ch := range diff.Changes {
		lines = append(lines, fmt.Sprintf("diff: %s %s\n", ch.Kind, ch.Path))
	}
	sort.Strings(lines)
	out.WriteString(strings.Join(lines, ""))

	exp, err := c.ContainerExport(ctx, created.ID, client.ContainerExportOptions{})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	listing := tarListing(t, exp, false)
	exp.Close()
	fmt.Fprintf(&out, "export has tmp/out.txt %v, tmp/in/hello.txt %v, etc/passwd %v, etc/group %v\n",
		strings.Contains(listing, "tmp/out.txt\n"), strings.Contains(listing, "tmp/in/hello.txt\n"),
		strings.Contains(listing, "etc/passwd\n"), strings.Contains(listing, "etc/group\n"))

	ref := uniqueName("sdk-committed") + ":v1"
	committed, err := c.ContainerCommit(ctx, created.ID, client.ContainerCommitOptions{Reference: ref, Changes: []string{"ENV X=1"}, Comment: "sdk"})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	defer c.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	fmt.Fprintf(&out, "commit id: %v\n", strings.HasPrefix(committed.ID, "sha256:"))
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect the committed image: %v", err)
	}
	fmt.Fprintf(&out, "committed: id matches %v, X=1 %v, cmd %q\n", img.ID == committed.ID, contains(img.Config.Env, "X=1"), img.Config.Cmd)
	return out.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tarListing lists a tar's entries (with contents when withBody), sorted.
func tarListing(t *testing.T, r io.Reader, withBody bool) string {
	t.Helper()
	var lines []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		line := strings.TrimSuffix(h.Name, "/")
		if withBody {
			b, _ := io.ReadAll(tr)
			line = fmt.Sprintf("%s %o %q", line, h.Mode&0o7777, b)
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestGoSDKFiles: the Go SDK's put_archive, stat, get_archive, diff, export and commit give on runsock what they
// give on the reference Docker Engine.
func TestGoSDKFiles(t *testing.T) {
	refImage := referenceAlpine(t)
	got := sdkFiles(t, stack.dockerHost, "alpine:latest")
	want := sdkFiles(t, referenceHost(t), refImage)
	if got != want {
		t.Errorf("Go SDK file calls differ:\nrunsock:\n%s\nreference Docker Engine:\n%s", got, want)
	}
	t.Logf("transcript:\n%s", got)
}

// TestDockerPyFiles: docker-py's put_archive, get_archive, diff, export and commit give on runsock what they give
// on the reference Docker Engine.
func TestDockerPyFiles(t *testing.T) {
	refImage := referenceAlpine(t)
	script := `
import docker, io, sys, tarfile
c = docker.from_env()
image, name = sys.argv[1], sys.argv[2]
c.images.pull(image)
ct = c.containers.create(image, ["sh", "-c", "cat /tmp/hello.txt > /tmp/out.txt && rm /etc/group"], name=name)
out = []
try:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("hello.txt"); ti.size = 6; ti.mode = 0o640
        tf.addfile(ti, io.BytesIO(b"hello\n"))
    out.append("put %s" % ct.put_archive("/tmp", buf.getvalue()))
    ct.start()
    out.append("exit %s" % ct.wait()["StatusCode"])
    bits, stat = ct.get_archive("/tmp/out.txt")
    data = b"".join(bits)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        m = tf.getmembers()[0]
        out.append("get %s %s %o %r" % (stat["name"], stat["size"], m.mode, tf.extractfile(m).read()))
    out.append("diff %s" % sorted((d["Kind"], d["Path"]) for d in ct.diff()))
    exported = b"".join(ct.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
        names = set(n.rstrip("/") for n in tf.getnames())
    out.append("export %s %s %s" % ("tmp/out.txt" in names, "etc/passwd" in names, "etc/group" in names))
    img = ct.commit(repository=name + "-img", tag="v1", changes=["ENV PY=1"], message="py")
    out.append("commit %s %s" % (img.id.startswith("sha256:"), "PY=1" in img.attrs["Config"]["Env"]))
    c.images.remove(img.id, force=True)
    try:
        ct.get_archive("/no/such")
        out.append("missing: found")
    except docker.errors.NotFound:
        out.append("missing: NotFound")
finally:
    ct.remove(force=True)
print("\n".join(out))
`
	run := func(host, image string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "python3", "-c", script, image, uniqueName("py-files"))
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-py against %s: %v\n%s", host, err, out)
		}
		return string(out)
	}
	got := run(stack.dockerHost, "alpine:latest")
	want := run(referenceHost(t), refImage)
	if got != want {
		t.Errorf("docker-py file calls differ:\nrunsock:\n%s\nreference Docker Engine:\n%s", got, want)
	}
	t.Logf("transcript:\n%s", got)
}
