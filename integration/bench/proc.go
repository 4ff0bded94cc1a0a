package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// errNotApplicable marks a cell that has no meaning for a side (rendered "—").
var errNotApplicable = errors.New("not applicable")

// devPids reads the PIDs scripts/dev recorded in DIR/NAME.pid for the processes the benchmark watches.
func devPids(dir string) map[string]int {
	pids := map[string]int{}
	for _, name := range []string{"controlplane", "localproxy", "gcpsim", "frontends"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids[name] = pid
		}
	}
	return pids
}

// vmRSS returns a process's resident set size in MiB from /proc/PID/status.
func vmRSS(pid int) (float64, error) { return procStatus(pid, "VmRSS") }

// procStatus reads one "Key: N kB" field of /proc/PID/status, in MiB.
func procStatus(pid int, key string) (float64, error) {
	if pid == 0 {
		return 0, errors.New("no pid (is scripts/dev running it?)")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// gcpsimFlag returns the value of --NAME on gcpsim's command line, or "".
func gcpsimFlag(pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}
