// Package errkind owns the control plane's user-facing errors: a message worded for the person at the docker CLI
// (Docker's own wording where Docker has one) that matches a github.com/containerd/errdefs kind with errors.Is.
// Domain packages classify errors where they start; dockerapi maps kinds to HTTP status in one place.
// It imports nothing of runsock and runs no goroutines.
package errkind

import (
	"errors"
	"fmt"
)

// Error is a message for the user with its kind.
type Error struct {
	Msg  string
	Kind error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, errdefs.ErrNotFound) and friends see the kind.
func (e *Error) Unwrap() error { return e.Kind }

// New returns an Error of kind with a formatted message.
func New(kind error, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// ErrTooLarge is the kind of a request whose body is over a limit runsock states (HTTP 413); errdefs has none.
var ErrTooLarge = errors.New("request entity too large")
