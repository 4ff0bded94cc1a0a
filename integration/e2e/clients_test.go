package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The Go SDK, as testcontainers and Go programs use it: create, start, wait, logs, remove.
func TestGoSDKClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(client.WithHost(stack.dockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	image := stack.arURL + "/alpine:latest"
	pull, err := c.ImagePull(ctx, image, client.ImagePullOptions{}) // the SDK, unlike the CLI, does not pull on create
	if err != nil {
		t.Fatal(err)
	}
	if err := pull.Wait(ctx); err != nil {
		t.Fatalf("pull: %v", err)
	}
	pull.Close()
	name := uniqueName("sdk")
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config: &container.Config{Image: image, Cmd: []string{"sh", "-c", "echo to-out; echo to-err >&2; exit 9"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	wait := c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		if res.StatusCode != 9 {
			t.Fatalf("wait: exit %d, want 9", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatalf("wait: %v", err)
	}
	logs, err := c.ContainerLogs(ctx, created.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, logs); err != nil {
		t.Fatal(err)
	}
	if out.String() != "to-out\n" || errb.String() != "to-err\n" {
		t.Fatalf("logs: stdout %q stderr %q", out.String(), errb.String())
	}
}

// docker-py, as Python tools and CI scripts use it.
func TestDockerPy(t *testing.T) {
	script := `
import docker, sys
c = docker.from_env()
out = c.containers.run(sys.argv[1], ["sh", "-c", "echo from-python"], remove=True)
assert out == b"from-python\n", out
ct = c.containers.run(sys.argv[1], ["sleep", "300"], detach=True, name=sys.argv[2])
try:
    for _ in range(300):
        code, res = ct.exec_run(["sh", "-c", "echo exec-$((6*7))"])
        if code == 0:
            break
        import time; time.sleep(0.2)
    assert (code, res) == (0, b"exec-42\n"), (code, res)
    assert c.containers.get(sys.argv[2]).status == "running"
    assert sys.argv[2] in [x.name for x in c.containers.list()]
finally:
    ct.remove(force=True)
print("ok")
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", script, stack.arURL+"/alpine:latest", uniqueName("py"))
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+stack.dockerHost)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
}
