package procfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// clkTck is USER_HZ, 100 on every Linux ABI Go supports.
const clkTck = 100

type proc struct {
	pid, ppid    int
	comm         string
	ttyNr        int
	utime, stime uint64
	startTicks   uint64
	uid          string
	cmdline      string
}

func readProc(pid int) (proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, err
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return proc{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	p := proc{pid: pid, comm: s[open+1 : close]}
	f := strings.Fields(s[close+1:]) // f[0] is state (field 3)
	if len(f) < 20 {
		return proc{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	p.ppid, _ = strconv.Atoi(f[1])
	p.ttyNr, _ = strconv.Atoi(f[4])
	p.utime, _ = strconv.ParseUint(f[11], 10, 64)
	p.stime, _ = strconv.ParseUint(f[12], 10, 64)
	p.startTicks, _ = strconv.ParseUint(f[19], 10, 64)
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cl) > 0 {
		p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
	} else {
		p.cmdline = "[" + p.comm + "]"
	}
	p.uid = "?"
	if st, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(st)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) > 0 {
					p.uid = fs[0]
				}
			}
		}
		st.Close()
	}
	return p, nil
}

func allProcs() map[int]proc {
	ents, _ := os.ReadDir("/proc")
	out := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil {
			out[pid] = p
		}
	}
	return out
}

// Top lists the descendants of root (the agent: in a container, every process but the agent itself) in ps -ef's
// columns, as docker top shows them.
func Top(root int) linkproto.Top {
	procs := allProcs()
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var pids []int
	var walk func(int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			pids = append(pids, c)
			walk(c)
		}
	}
	walk(root)
	sort.Ints(pids)
	boot := bootTime()
	users := userNames()
	top := linkproto.Top{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}}
	for _, pid := range pids {
		p := procs[pid]
		uid := p.uid
		if n, ok := users[uid]; ok {
			uid = n
		}
		start := boot.Add(time.Duration(p.startTicks) * time.Second / clkTck)
		cpu := time.Duration(p.utime+p.stime) * time.Second / clkTck
		top.Processes = append(top.Processes, []string{
			uid, strconv.Itoa(p.pid), strconv.Itoa(p.ppid), "0", start.Format("15:04"), ttyName(p.ttyNr),
			fmt.Sprintf("%02d:%02d:%02d", int(cpu.Hours()), int(cpu.Minutes())%60, int(cpu.Seconds())%60), p.cmdline,
		})
	}
	return top
}

func ttyName(nr int) string {
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case nr == 0:
		return "?"
	case major == 136:
		return fmt.Sprintf("pts/%d", minor)
	case major == 4:
		return fmt.Sprintf("tty%d", minor)
	}
	return "?"
}

func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			s, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return time.Unix(s, 0)
		}
	}
	return time.Time{}
}

func userNames() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join("/", "etc", "passwd"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 {
			if _, ok := out[f[2]]; !ok {
				out[f[2]] = f[0]
			}
		}
	}
	return out
}
