package images

import (
	"errors"
	"fmt"
	"syscall"
)

// kindError carries a message meant for the user while matching an errdefs kind with errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func withKind(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
