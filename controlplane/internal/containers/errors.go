package containers

import (
	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

func errorf(kind error, format string, args ...any) error { return errkind.New(kind, format, args...) }

func noSuchContainer(ref string) error {
	return errorf(errdefs.ErrNotFound, "No such container: %s", ref)
}
