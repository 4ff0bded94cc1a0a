package netns

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// HelperArg is the agent's first argument when it runs as the helper (see RunHelper).
const HelperArg = "--runsock-netns-helper"

// Wrap turns cmd, built by exec.Command with its Env, stdio and SysProcAttr set, into the same command started in
// a new user and network namespace through the helper: self is the agent's binary (/proc/self/exe in the
// container). cmd's Credential moves into the helper's arguments (the helper needs its capabilities to bring the
// loopback interface up, and drops them when it takes the user's IDs).
func Wrap(cmd *exec.Cmd, self string) error {
	if cmd.Err != nil {
		return cmd.Err // the command was not found: the caller reports it as for any start
	}
	uidMap, err := identityMap("/proc/self/uid_map")
	if err != nil {
		return err
	}
	gidMap, err := identityMap("/proc/self/gid_map")
	if err != nil {
		return err
	}
	attr := cmd.SysProcAttr
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	uid, gid := "-", "-"
	if c := attr.Credential; c != nil {
		uid, gid = strconv.FormatUint(uint64(c.Uid), 10), strconv.FormatUint(uint64(c.Gid), 10)
		attr.Credential = nil
	}
	attr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
	attr.UidMappings, attr.GidMappings = uidMap, gidMap
	attr.GidMappingsEnableSetgroups = true
	cmd.SysProcAttr = attr
	cmd.Args = append([]string{self, HelperArg, uid, gid, cmd.Path}, cmd.Args...)
	cmd.Path = self
	return nil
}

// identityMap maps every ID the agent's own user namespace maps (its uid_map or gid_map) to itself.
func identityMap(path string) ([]syscall.SysProcIDMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("network mode none: %w", err)
	}
	defer f.Close()
	var out []syscall.SysProcIDMap
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		inside, err1 := strconv.Atoi(fs[0])
		size, err2 := strconv.Atoi(fs[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("network mode none: %s: bad line %q", path, sc.Text())
		}
		out = append(out, syscall.SysProcIDMap{ContainerID: inside, HostID: inside, Size: size})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("network mode none: %s maps no IDs", path)
	}
	return out, sc.Err()
}

// RunHelper is the helper's whole life, args being what follows HelperArg: UID GID PATH ARGV0 ARGS… It brings the
// loopback interface up, takes the user's IDs ("-" keeps them), and execs PATH; it returns only on failure, with
// Docker's exit code (127 not found, 126 otherwise) for the caller to exit with after printing msg.
func RunHelper(args []string) (code int, msg string) {
	if len(args) < 4 {
		return 126, "runsock agent: netns helper: too few arguments"
	}
	uid, gid, path, argv := args[0], args[1], args[2], args[3:]
	if err := loopbackUp(); err != nil {
		return 126, "runsock agent: network mode none: bring up lo: " + err.Error()
	}
	if gid != "-" {
		n, err := strconv.Atoi(gid)
		if err == nil {
			err = syscall.Setgid(n)
		}
		if err != nil {
			return 126, "runsock agent: setgid " + gid + ": " + err.Error()
		}
	}
	if uid != "-" {
		n, err := strconv.Atoi(uid)
		if err == nil {
			err = syscall.Setuid(n)
		}
		if err != nil {
			return 126, "runsock agent: setuid " + uid + ": " + err.Error()
		}
	}
	err := syscall.Exec(path, argv, os.Environ())
	code = 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return code, fmt.Sprintf("runsock agent: exec %s: %v", path, err)
}

// loopbackUp sets IFF_UP on lo; the kernel gives it 127.0.0.1/8 and ::1 as it comes up.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set flags: %w", err)
	}
	return nil
}
