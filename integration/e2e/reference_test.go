package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/runsock/runsock/integration/testimages"
)

// The machine's Docker Engine (gcpsim's) is the reference that settles what Docker does: the same steps run there and
// here. It is reached only through GCPSIM_DOCKER_HOST (DOCKER_HOST is runsock), and holds the same test image as
// `alpine:latest`.
var reference struct {
	once sync.Once
	host string
	err  error
}

// referenceHost is the reference engine's address, the test image loaded there once.
func referenceHost(t *testing.T) string {
	t.Helper()
	reference.once.Do(func() {
		reference.host = os.Getenv("GCPSIM_DOCKER_HOST")
		if reference.host == "" {
			reference.err = errors.New("GCPSIM_DOCKER_HOST not set (source .dev/env)")
			return
		}
		dir, err := os.MkdirTemp("", "runsock-e2e-ref")
		if err != nil {
			reference.err = err
			return
		}
		defer os.RemoveAll(dir)
		if _, err := testimages.Save(dir); err != nil {
			reference.err = err
			return
		}
		if r := dockerAs(t, reference.host, "", "load", "-i", filepath.Join(dir, "alpine.tar")); r.code != 0 {
			reference.err = fmt.Errorf("loading the test image into the reference engine: %s", r)
		}
	})
	if reference.err != nil {
		t.Fatal(reference.err)
	}
	return reference.host
}
