package containers

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// kindError carries Docker's exact wording while matching an errdefs kind with errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func noSuchContainer(ref string) error {
	return errorf(errdefs.ErrNotFound, "No such container: %s", ref)
}
