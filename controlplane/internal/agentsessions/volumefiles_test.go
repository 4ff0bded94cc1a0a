package agentsessions

import (
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// TestVolumeMount: a path goes to the volume whose mount point is the deepest at or above it; a tmpfs, a path
// beside a mount point and a path above one are the container's own.
func TestVolumeMount(t *testing.T) {
	s := &Sessions{volumes: &volumes.Files{}}
	c := &containers.Container{Mounts: []containers.Mount{
		{Type: mount.TypeVolume, Name: "data", Prefix: "v1/k/data/", Destination: "/data"},
		{Type: mount.TypeVolume, Name: "logs", Prefix: "v1/k/logs/", Destination: "/data/logs", ReadOnly: true},
		{Type: mount.TypeTmpfs, Destination: "/scratch"},
	}}
	for _, tc := range []struct {
		path, volume, rel, base string
	}{
		{"/data", "data", "", "data"},
		{"/data/", "data", "", "data"},
		{"/data/.", "data", "", "."},
		{"data/sub/f", "data", "sub/f", "f"},
		{"/data/logs/x", "logs", "x", "x"},
		{"/data/logsx", "data", "logsx", "logsx"},
		{"/data2/f", "", "", ""},
		{"/", "", "", ""},
		{"/scratch/f", "", "", ""},
	} {
		m, rel := s.volumeMount(c, tc.path)
		got := ""
		if m != nil {
			got = m.Name
		}
		if got != tc.volume || rel != tc.rel {
			t.Errorf("%s: volume %q rel %q, want %q %q", tc.path, got, rel, tc.volume, tc.rel)
		}
		if tc.base != "" && archiveBase(tc.path) != tc.base {
			t.Errorf("%s: archive base %q, want %q", tc.path, archiveBase(tc.path), tc.base)
		}
	}
	if m, _ := s.volumeMount(c, "/data/logs"); m == nil || !m.ReadOnly {
		t.Error("the read-only mount is not the one found for its own path")
	}
	if m, _ := (&Sessions{}).volumeMount(c, "/data/f"); m != nil {
		t.Error("without volume files wired a volume path is served as any other")
	}
}
