package containers

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestParseMounts(t *testing.T) {
	tests := []struct {
		name string
		hc   container.HostConfig
		cfg  container.Config
		want []Mount
		err  string // part of a 400's message; "" for success
	}{
		{name: "named, ro, anonymous from -v /path and the image, tmpfs",
			hc: container.HostConfig{Binds: []string{"db:/data", "cfg:/etc/app:ro,z"}, Tmpfs: map[string]string{"/scratch": "size=64m,mode=1777"},
				Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
					{Type: mount.TypeVolume, Target: "/anon"}, {Type: mount.TypeVolume, Source: "logs", Target: "/logs", ReadOnly: true}}},
			cfg: container.Config{Volumes: map[string]struct{}{"/var/lib/x": {}, "/data": {}}},
			want: []Mount{{Type: mount.TypeVolume, Anonymous: true, Destination: "/anon"},
				{Type: mount.TypeVolume, Name: "db", Destination: "/data"},
				{Type: mount.TypeVolume, Name: "cfg", Destination: "/etc/app", ReadOnly: true},
				{Type: mount.TypeVolume, Name: "logs", Destination: "/logs", ReadOnly: true},
				{Type: mount.TypeTmpfs, Destination: "/scratch", SizeBytes: 64 << 20},
				{Type: mount.TypeTmpfs, Destination: "/t", SizeBytes: 1 << 20},
				{Type: mount.TypeVolume, Anonymous: true, Destination: "/var/lib/x", implicit: true}}},
		{name: "nocopy, volume-nocopy",
			hc: container.HostConfig{Binds: []string{"db:/data:nocopy", "cfg:/etc/app:ro,nocopy"},
				Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "logs", Target: "/logs", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}},
			want: []Mount{{Type: mount.TypeVolume, Name: "db", Destination: "/data", NoCopy: true},
				{Type: mount.TypeVolume, Name: "cfg", Destination: "/etc/app", ReadOnly: true, NoCopy: true},
				{Type: mount.TypeVolume, Name: "logs", Destination: "/logs", NoCopy: true}}},
		{name: "bind of a host path", hc: container.HostConfig{Binds: []string{"/etc:/x"}}, err: "cannot bind-mount /etc"},
		{name: "bind through --mount", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/src", Target: "/x"}}}, err: "cannot bind-mount /src"},
		{name: "relative destination", hc: container.HostConfig{Binds: []string{"v1:rel"}}, err: "mount path must be absolute"},
		{name: "bad mode", hc: container.HostConfig{Binds: []string{"v1:/a:bogus"}}, err: "invalid mode: bogus"},
		{name: "too many colons", hc: container.HostConfig{Binds: []string{"v1:/a:ro:x"}}, err: "invalid volume specification"},
		{name: "duplicate", hc: container.HostConfig{Binds: []string{"v1:/a"}, Tmpfs: map[string]string{"/a/": ""}}, err: "Duplicate mount point: /a"},
		{name: "at /proc", hc: container.HostConfig{Tmpfs: map[string]string{"/proc/x": ""}}, err: "Cloud Run cannot mount volumes at /proc"},
		{name: "at /", hc: container.HostConfig{Binds: []string{"v1:/"}}, err: "destination can't be '/'"},
		{name: "colon in path", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v1", Target: "/a:b"}}}, err: "cannot contain ':'"},
		{name: "tmpfs bad size", hc: container.HostConfig{Tmpfs: map[string]string{"/t": "size=lots"}}, err: "invalid tmpfs option"},
		{name: "volume driver options", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v1", Target: "/v",
			VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "nfs"}}}}}}, err: "no driver or driver options"},
		{name: "npipe", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeNamedPipe, Target: "/p"}}}, err: "volumes and tmpfs only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMounts(&tc.hc, &tc.cfg, nil)
			if tc.err != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a 400 with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("mount %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
