package procfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

// dockerV1Self is /proc/self/cgroup in a container of the reference engine (Docker 20.10 on cgroup v1, no cgroup
// namespace; observed with `docker run --rm alpine cat /proc/self/cgroup`): every hierarchy names the container's
// cgroup from the host's root, while the container's /sys/fs/cgroup/<controller> is that cgroup itself.
const dockerV1Self = `9:name=systemd:/docker/af156d31
8:pids:/docker/af156d31
4:memory:/docker/af156d31
2:cpuacct:/docker/af156d31
1:cpu:/docker/af156d31
0::/docker/af156d31
`

// writeV1 lays out the files statsV1 reads under root/<controller>/<sub>.
func writeV1(t *testing.T, root string, dirs map[string]string) {
	t.Helper()
	files := map[string]map[string]string{
		"cpuacct": {"cpuacct.usage": "117947113\n", "cpuacct.stat": "user 7\nsystem 4\n"},
		"memory":  {"memory.usage_in_bytes": "4194304\n", "memory.limit_in_bytes": "536870912\n", "memory.stat": "cache 8192\nrss 4096\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"},
		"pids":    {"pids.current": "3\n"},
	}
	for controller, fs := range files {
		dir := filepath.Join(root, dirs[controller])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range fs {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStatsV1 reads cgroup v1 where Docker puts a container's cgroup (the mount's root, though /proc/self/cgroup
// names a host path), where a host or a cgroup namespace puts it (the named path), and with cpuacct mounted
// together with cpu.
func TestStatsV1(t *testing.T) {
	tests := []struct {
		name string
		self string
		dirs map[string]string // controller → directory under the root holding its files
	}{
		{"docker without a cgroup namespace: the mount's root", dockerV1Self,
			map[string]string{"cpuacct": "cpuacct", "memory": "memory", "pids": "pids"}},
		{"the named path exists", dockerV1Self,
			map[string]string{"cpuacct": "cpuacct/docker/af156d31", "memory": "memory/docker/af156d31", "pids": "pids/docker/af156d31"}},
		{"cpuacct mounted with cpu", "4:memory:/x\n3:cpu,cpuacct:/x\n2:pids:/x\n",
			map[string]string{"cpuacct": "cpu,cpuacct/x", "memory": "memory/x", "pids": "pids/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeV1(t, root, tt.dirs)
			cg := cgroups{root: root, self: tt.self}
			if cg.v2() {
				t.Fatal("a v1 layout taken for v2")
			}
			var s linkproto.Stats
			statsV1(&s, cg)
			if s.CPUUsageNanos != 117947113 || s.CPUUserNanos != 70_000_000 || s.CPUSystemNanos != 40_000_000 {
				t.Errorf("cpu: usage %d user %d system %d, want 117947113, 70000000, 40000000", s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos)
			}
			if s.MemoryUsage != 4<<20 || s.MemoryLimit != 512<<20 || s.MemoryStats["cache"] != 8192 {
				t.Errorf("memory: usage %d limit %d stats %v", s.MemoryUsage, s.MemoryLimit, s.MemoryStats)
			}
			if s.PIDs != 3 {
				t.Errorf("pids: %d, want 3", s.PIDs)
			}
			if n, ok := cg.oomKills(); !ok || n != 2 {
				t.Errorf("oom kills: %d %v, want 2", n, ok)
			}
		})
	}
}

// TestStatsV2 reads the unified hierarchy at the mount's root (a cgroup namespace: /proc/self/cgroup says "0::/").
func TestStatsV2(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{"cgroup.controllers": "cpu memory pids\n", "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\n",
		"memory.current": "1024\n", "memory.max": "max\n", "pids.current": "2\n", "memory.events": "oom 1\noom_kill 1\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cg := cgroups{root: root, self: "0::/\n"}
	if !cg.v2() {
		t.Fatal("a v2 layout not taken for v2")
	}
	var s linkproto.Stats
	statsV2(&s, cg.dir(""))
	if s.CPUUsageNanos != 5000 || s.MemoryUsage != 1024 || s.MemoryLimit != 0 || s.PIDs != 2 {
		t.Errorf("got cpu %d memory %d limit %d pids %d", s.CPUUsageNanos, s.MemoryUsage, s.MemoryLimit, s.PIDs)
	}
	if n, ok := cg.oomKills(); !ok || n != 1 {
		t.Errorf("oom kills: %d %v, want 1", n, ok)
	}
}
