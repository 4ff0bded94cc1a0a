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
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		statsV2(&s, filepath.Join(cgroupRoot, cgroupPath("")))
	} else {
		statsV1(&s)
	}
	s.Networks = netDev()
	return s
}

// cgroupPath returns this process's cgroup path for controller ("" = the v2 unified hierarchy).
func cgroupPath(controller string) string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if controller == "" && f[0] == "0" {
			return f[2]
		}
		for _, c := range strings.Split(f[1], ",") {
			if controller != "" && c == controller {
				return f[2]
			}
		}
	}
	return "/"
}

// OOMKills is how many processes of the agent's cgroup the kernel's OOM killer has killed: oom_kill of cgroup v2's
// memory.events, else of v1's memory.oom_control (Linux 4.13 and later). ok is false when neither can be read.
// /proc/self/cgroup names the cgroup from the host's root where the container sees its own cgroup at the mount's
// root (Docker on cgroup v1 bind-mounts it there, with no cgroup namespace), so both places are tried.
func OOMKills() (n uint64, ok bool) {
	dir, file := filepath.Join(cgroupRoot, cgroupPath("")), "memory.events"
	root := cgroupRoot
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err != nil {
		root = filepath.Join(cgroupRoot, "memory")
		dir, file = filepath.Join(root, cgroupPath("memory")), "memory.oom_control"
	}
	for _, d := range []string{dir, root} {
		if n, ok = keyValues(filepath.Join(d, file))["oom_kill"]; ok {
			return n, true
		}
	}
	return 0, false
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

func statsV1(s *linkproto.Stats) {
	cpu := filepath.Join(cgroupRoot, "cpuacct", cgroupPath("cpuacct"))
	s.CPUUsageNanos = readUint(filepath.Join(cpu, "cpuacct.usage"))
	ticks := keyValues(filepath.Join(cpu, "cpuacct.stat"))
	s.CPUUserNanos, s.CPUSystemNanos = ticks["user"]*1e9/clkTck, ticks["system"]*1e9/clkTck
	mem := filepath.Join(cgroupRoot, "memory", cgroupPath("memory"))
	s.MemoryUsage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	s.MemoryLimit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
	s.MemoryStats = keyValues(filepath.Join(mem, "memory.stat"))
	s.PIDs = readUint(filepath.Join(cgroupRoot, "pids", cgroupPath("pids"), "pids.current"))
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
