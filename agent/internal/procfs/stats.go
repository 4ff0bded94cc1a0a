package procfs

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/runsock/runsock/linkproto"
)

const cgroupRoot = "/sys/fs/cgroup"

// Stats reads the agent's cgroup (v2, else v1) and /proc.
func Stats() linkproto.Stats {
	s := linkproto.Stats{Read: time.Now(), OnlineCPUs: uint32(runtime.NumCPU()), SystemNanos: systemNanos()}
	self, _ := os.ReadFile("/proc/self/cgroup")
	cg := cgroups{root: cgroupRoot, self: string(self)}
	if cg.v2() {
		statsV2(&s, cg.dir(""))
	} else {
		statsV1(&s, cg)
	}
	s.Networks = netDev()
	return s
}

// cgroups finds the agent's cgroup directories: root is where the cgroup filesystem is mounted, self the text of
// /proc/self/cgroup.
type cgroups struct{ root, self string }

// v2 reports whether root is the unified (v2) hierarchy.
func (c cgroups) v2() bool {
	_, err := os.Stat(filepath.Join(c.root, "cgroup.controllers"))
	return err == nil
}

// path returns the agent's cgroup path for controller ("" = the v2 unified hierarchy) and the name of the v1
// hierarchy holding it as /proc/self/cgroup lists it ("cpu,cpuacct" for cpuacct; "" for v2). Without a line for it,
// the path is "/".
func (c cgroups) path(controller string) (path, hierarchy string) {
	for _, line := range strings.Split(c.self, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if controller == "" && f[0] == "0" {
			return f[2], ""
		}
		for _, name := range strings.Split(f[1], ",") {
			if controller != "" && name == controller {
				return f[2], f[1]
			}
		}
	}
	return "/", controller
}

// dir returns the directory of the agent's cgroup for controller ("" = v2). /proc/self/cgroup names the cgroup from
// the host's root, but a container without a cgroup namespace (Docker on cgroup v1) sees its own cgroup at the
// mount's root: when the named directory does not exist, the mount's root is the agent's cgroup. A v1 controller
// is mounted under its own name or under its hierarchy's (cpuacct under "cpu,cpuacct", which systemd and runc also
// link as "cpuacct"); whichever exists is used.
func (c cgroups) dir(controller string) string {
	p, hierarchy := c.path(controller)
	mounts := []string{c.root}
	if controller != "" {
		mounts = []string{filepath.Join(c.root, controller)}
		if hierarchy != controller {
			mounts = append(mounts, filepath.Join(c.root, hierarchy))
		}
	}
	for _, m := range mounts {
		if d := filepath.Join(m, p); isDir(d) {
			return d
		}
	}
	for _, m := range mounts {
		if isDir(m) {
			return m
		}
	}
	return mounts[0]
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// OOMKills is how many processes of the agent's cgroup the kernel's OOM killer has killed: oom_kill of cgroup v2's
// memory.events, else of v1's memory.oom_control (Linux 4.13 and later). ok is false when neither can be read.
func OOMKills() (n uint64, ok bool) {
	self, _ := os.ReadFile("/proc/self/cgroup")
	return cgroups{root: cgroupRoot, self: string(self)}.oomKills()
}

func (c cgroups) oomKills() (n uint64, ok bool) {
	if c.v2() {
		n, ok = keyValues(filepath.Join(c.dir(""), "memory.events"))["oom_kill"]
		return n, ok
	}
	n, ok = keyValues(filepath.Join(c.dir("memory"), "memory.oom_control"))["oom_kill"]
	return n, ok
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// keyValues reads "key value" lines.
func keyValues(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	return out
}

func statsV2(s *linkproto.Stats, dir string) {
	cpu := keyValues(filepath.Join(dir, "cpu.stat"))
	s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = cpu["usage_usec"]*1000, cpu["user_usec"]*1000, cpu["system_usec"]*1000
	s.MemoryUsage = readUint(filepath.Join(dir, "memory.current"))
	s.MemoryLimit = readUint(filepath.Join(dir, "memory.max")) // "max" parses to 0: no limit
	s.MemoryStats = keyValues(filepath.Join(dir, "memory.stat"))
	s.PIDs = readUint(filepath.Join(dir, "pids.current"))
	if b, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "rbytes="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				s.BlkioRead += n
			} else if v, ok := strings.CutPrefix(f, "wbytes="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				s.BlkioWrite += n
			}
		}
	}
}

func statsV1(s *linkproto.Stats, cg cgroups) {
	cpu := cg.dir("cpuacct")
	s.CPUUsageNanos = readUint(filepath.Join(cpu, "cpuacct.usage"))
	ticks := keyValues(filepath.Join(cpu, "cpuacct.stat"))
	s.CPUUserNanos, s.CPUSystemNanos = ticks["user"]*1e9/clkTck, ticks["system"]*1e9/clkTck
	mem := cg.dir("memory")
	s.MemoryUsage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	s.MemoryLimit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
	s.MemoryStats = keyValues(filepath.Join(mem, "memory.stat"))
	s.PIDs = readUint(filepath.Join(cg.dir("pids"), "pids.current"))
}

// systemNanos is the host's total CPU time from /proc/stat's first line.
func systemNanos() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	var total uint64
	for _, v := range strings.Fields(sc.Text())[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
	}
	return total * 1e9 / clkTck
}

func netDev() map[string]linkproto.NetStats {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return nil
	}
	out := map[string]linkproto.NetStats{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		var v [16]uint64
		for i, f := range strings.Fields(rest) {
			if i < 16 {
				v[i], _ = strconv.ParseUint(f, 10, 64)
			}
		}
		out[name] = linkproto.NetStats{RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11]}
	}
	return out
}
