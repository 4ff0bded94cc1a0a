package containers

import (
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// A bind of the Docker socket (either of its two paths, any destination, any mode Docker takes) is the owner's
// grant of their Docker API; other binds stay refused, and the socket's destination follows the mount-path rules.
func TestDockerSocketBindIsTheGrant(t *testing.T) {
	tests := []struct {
		name  string
		hc    container.HostConfig
		want  []Mount
		socks []string
		err   string
	}{
		{name: "-v at the usual path", hc: container.HostConfig{Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}},
			want:  []Mount{{Type: mount.TypeBind, Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"}},
			socks: []string{"/var/run/docker.sock"}},
		{name: "-v /run/docker.sock elsewhere, read-only", hc: container.HostConfig{Binds: []string{"/run/docker.sock:/tmp/d/docker.sock:ro"}},
			want:  []Mount{{Type: mount.TypeBind, Source: "/run/docker.sock", Destination: "/tmp/d/docker.sock", Mode: "ro", ReadOnly: true}},
			socks: []string{"/tmp/d/docker.sock"}},
		{name: "--mount type=bind", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/s.sock", ReadOnly: true}}},
			want:  []Mount{{Type: mount.TypeBind, Source: "/var/run/docker.sock", Destination: "/s.sock", ReadOnly: true}},
			socks: []string{"/s.sock"}},
		{name: "beside a volume", hc: container.HostConfig{Binds: []string{"data:/data", "/var/run/docker.sock:/var/run/docker.sock:rw"}},
			want: []Mount{{Type: mount.TypeVolume, Name: "data", Destination: "/data"},
				{Type: mount.TypeBind, Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", Mode: "rw"}},
			socks: []string{"/var/run/docker.sock"}},
		{name: "another socket path is a plain bind", hc: container.HostConfig{Binds: []string{"/var/run/docker.sock.bak:/var/run/docker.sock"}}, err: "cannot bind-mount"},
		{name: "relative destination", hc: container.HostConfig{Binds: []string{"/var/run/docker.sock:docker.sock"}}, err: "mount path must be absolute"},
		{name: "bad mode", hc: container.HostConfig{Binds: []string{"/var/run/docker.sock:/d.sock:nocopy"}}, err: "invalid mode: nocopy"},
		{name: "duplicate", hc: container.HostConfig{Binds: []string{"/var/run/docker.sock:/d.sock"}, Tmpfs: map[string]string{"/d.sock": ""}}, err: "Duplicate mount point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMounts(&tc.hc, &container.Config{}, nil)
			if tc.err != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a 400 with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			c := &Container{Mounts: got}
			if s := c.DockerSockets(); !slices.Equal(s, tc.socks) {
				t.Errorf("DockerSockets = %v, want %v", s, tc.socks)
			}
		})
	}
	if s := (&Container{Mounts: []Mount{{Type: mount.TypeVolume, Name: "v", Destination: "/var/run/docker.sock"}}}).DockerSockets(); s != nil {
		t.Errorf("a volume at the socket's path grants %v", s)
	}
}
