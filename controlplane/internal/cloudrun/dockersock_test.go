package cloudrun

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// The Docker socket is served by the agent: it adds no Cloud Run volume, so a container with it shares the job of
// the same container without it.
func TestDockerSocketIsNoVolume(t *testing.T) {
	plain := containers.LaunchSpec{Image: "img@sha256:1", Mounts: []containers.Mount{{Type: mount.TypeVolume, Name: "v", Prefix: "v1/o/v", Destination: "/v"}}}
	withSocket := plain
	withSocket.Mounts = append(append([]containers.Mount(nil), plain.Mounts...),
		containers.Mount{Type: mount.TypeBind, Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"})
	tpl := TemplateFor(withSocket, "sa@p", time.Hour)
	if len(tpl.Volumes) != 1 || tpl.Volumes[0].Path != "/v" {
		t.Fatalf("volumes = %+v, want only /v", tpl.Volumes)
	}
	if a, b := tpl.JobID(), TemplateFor(plain, "sa@p", time.Hour).JobID(); a != b {
		t.Errorf("job %s with the socket, %s without: want the same", a, b)
	}
}
