package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/runsock/runsock/localproxy/internal/config"
)

// The socket is owner-only however permissive the user's umask is.
func TestSocketIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	lns, err := listen(config.Config{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer lns[0].Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("socket mode %o, want 600", perm)
	}
}
