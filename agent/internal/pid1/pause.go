package pid1

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pauseWait bounds how long Pause waits for every process to have stopped.
const pauseWait = 5 * time.Second

// Pause stops every process of the container but the agent (root): SIGSTOP to each descendant of root, parents
// before children, pass after pass until one finds every descendant stopped — a process forked during a pass is
// stopped by the next. This is `docker pause` without a cgroup freezer (the container cannot write its cgroup):
// unlike a freeze, a parent waiting for a child with WUNTRACED (a shell with job control) can see it stop.
func Pause(root int) error {
	deadline := time.Now().Add(pauseWait)
	for {
		running := 0
		for _, p := range descendants(root) {
			if p.state != 'T' && p.state != 't' && p.state != 'Z' && p.state != 'X' {
				running++
				_ = syscall.Kill(p.pid, syscall.SIGSTOP)
			}
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes did not stop within %s", running, pauseWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Unpause continues every process of the container but the agent (root): SIGCONT to each descendant.
func Unpause(root int) error {
	var errs []error
	for _, p := range descendants(root) {
		if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("continue process %d: %w", p.pid, err))
		}
	}
	return errors.Join(errs...)
}

type procState struct {
	pid   int
	state byte // /proc/<pid>/stat's state: R, S, D, T (stopped), t (traced), Z (zombie), …
}

// descendants lists root's descendants (not root), parents before children.
func descendants(root int) []procState {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procState{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone since the listing
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses: the last ')' ends it.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || len(f[0]) == 0 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], procState{pid: pid, state: f[0][0]})
	}
	var out []procState
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}
