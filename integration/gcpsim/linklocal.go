package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// listenMetadataIP listens on ip:80, where task containers reach the metadata server as on Cloud Run
// (metadata.google.internal and 169.254.169.254, port 80; reference/cloud-run-behaviour.md §8). The tasks' traffic
// to it leaves their network namespace through the task network's gateway and is delivered to this host, so ip must
// be an address of this machine: gcpsim, when it runs as root, adds it to the loopback interface and removes it in
// the returned cleanup; anyone else gets the exact commands to run once.
//
// While the address is on this machine, the host's own requests to it come here too: on a Google Cloud VM that hides
// the VM's metadata server from the host until gcpsim stops.
func listenMetadataIP(ip netip.Addr, log *slog.Logger) (net.Listener, func(), error) {
	addr := netip.AddrPortFrom(ip, 80).String()
	add := []string{"ip", "addr", "add", ip.String() + "/32", "dev", "lo"}
	l, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return l, func() {}, nil
	case errors.Is(err, syscall.EACCES):
		return nil, nil, fmt.Errorf("metadata server on %s: %w; port 80 needs privilege: run gcpsim as root, or once: "+
			"sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80", addr, err)
	case !errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, nil, fmt.Errorf("metadata server on %s: %w", addr, err)
	case os.Geteuid() != 0:
		return nil, nil, fmt.Errorf("metadata server on %s: %s is not an address of this machine, and tasks reach the "+
			"metadata server there as on Cloud Run; run once: sudo %s && sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80",
			addr, ip, strings.Join(add, " "))
	}
	if out, err := exec.Command(add[0], add[1:]...).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("metadata server: %s: %v: %s", strings.Join(add, " "), err, strings.TrimSpace(string(out)))
	}
	log.Info("added the metadata server's address to lo", "address", ip.String())
	cleanup := func() {
		del := []string{"ip", "addr", "del", ip.String() + "/32", "dev", "lo"}
		if out, err := exec.Command(del[0], del[1:]...).CombinedOutput(); err != nil {
			log.Warn("remove the metadata server's address", "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
	if l, err = net.Listen("tcp", addr); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("metadata server on %s: %w", addr, err)
	}
	return l, cleanup, nil
}
