package images

import (
	"errors"
	"syscall"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

func withKind(kind error, format string, args ...any) error {
	return errkind.New(kind, format, args...)
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
