package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Random host ports as client libraries ask for them: testcontainers publishes with HostPort "0", others with "",
// the CLI's -P publishes every exposed port. Each means "any free port": inspect shows the real port at once after
// the start, the owner's localproxy listens there, and a connection reaches the container. HostConfig keeps what
// was asked, and a stopped container shows no ports, as Docker shows them.
func TestRandomHostPortsAsTestcontainers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.New(client.WithHost(stack.dockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	image := stack.arURL + "/httpd:latest"
	pull, err := c.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pull.Wait(ctx); err != nil {
		t.Fatalf("pull: %v", err)
	}
	pull.Close()
	port := network.MustParsePort("8080/tcp")
	for _, asked := range []string{"0", ""} {
		t.Run("HostPort=\""+asked+"\"", func(t *testing.T) {
			name := uniqueName("rport")
			created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
				Config:     &container.Config{Image: image, ExposedPorts: network.PortSet{port: {}}},
				HostConfig: &container.HostConfig{PortBindings: network.PortMap{port: {{HostPort: asked}}}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
			})
			if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
			in, err := c.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			bs := in.Container.NetworkSettings.Ports[port]
			if len(bs) != 1 || bs[0].HostPort == "" || bs[0].HostPort == "0" {
				t.Fatalf("NetworkSettings.Ports right after the start = %v; want one binding with a real host port", in.Container.NetworkSettings.Ports)
			}
			if got := in.Container.HostConfig.PortBindings[port]; len(got) != 1 || got[0].HostPort != asked {
				t.Errorf("HostConfig.PortBindings = %v; want HostPort %q as asked (Docker keeps it)", got, asked)
			}
			hostPort := bs[0].HostPort
			getPage(t, hostPort)
			if out := mustDocker(t, "port", name, "8080"); !strings.HasSuffix(strings.TrimSpace(out), ":"+hostPort) {
				t.Errorf("docker port = %q; want …:%s", out, hostPort)
			}
			if _, err := c.ContainerStop(ctx, created.ID, client.ContainerStopOptions{Timeout: ptr(1)}); err != nil {
				t.Fatal(err)
			}
			in, err = c.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Container.NetworkSettings.Ports) != 0 {
				t.Errorf("NetworkSettings.Ports of a stopped container = %v; want {} as Docker", in.Container.NetworkSettings.Ports)
			}
			waitFor(t, 20*time.Second, "the random port to close", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:"+hostPort+"/", nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				return err != nil
			})
		})
	}
	t.Run("-P", func(t *testing.T) {
		name := uniqueName("rportP")
		removeOnCleanup(t, name)
		mustDocker(t, "run", "-d", "--name", name, "-P", "--expose", "8080", image)
		out := strings.TrimSpace(mustDocker(t, "port", name, "8080/tcp"))
		_, hostPort, ok := strings.Cut(out, ":")
		if !ok || hostPort == "" || hostPort == "0" {
			t.Fatalf("docker port right after run -d -P = %q; want a real host port", out)
		}
		getPage(t, hostPort)
		if ps := mustDocker(t, "ps", "--filter", "name="+name, "--format", "{{.Ports}}"); !strings.Contains(ps, ":"+hostPort+"->8080/tcp") {
			t.Errorf("docker ps PORTS = %q; want …:%s->8080/tcp", ps, hostPort)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// getPage waits for the test httpd's page through 127.0.0.1:hostPort.
func getPage(t *testing.T, hostPort string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var body string
	waitFor(t, 60*time.Second, "the page on 127.0.0.1:"+hostPort, func() bool {
		resp, err := client.Get("http://127.0.0.1:" + hostPort + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.Contains(strings.ToLower(body), "runsock") {
		t.Errorf("page through the random port = %q", body)
	}
}
