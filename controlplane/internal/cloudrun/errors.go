package cloudrun

import (
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

func withKind(kind error, format string, args ...any) error {
	return errkind.New(kind, format, args...)
}

// Advice added to an allocation-quota error (never a rate quota's) at the call that can hit it.
const (
	jobQuotaAdvice       = "remove unused containers (docker container prune) so idle jobs can be deleted, or ask for a higher quota"
	executionQuotaAdvice = "stop some containers, or ask for a higher quota"
)

// adminAPIUnavailable is what a user sees while the Admin API cannot be reached (after the client library's own
// retries): new starts fail at once rather than wait, and nothing already running is affected.
const adminAPIUnavailable = "the Cloud Run Admin API (run.googleapis.com) is unavailable, so no container can be " +
	"started or stopped through it now; running containers are not affected (exec, logs, cp, wait work); try again shortly"

// translate maps an Admin API error onto an errdefs kind, keeping Google's message where it helps the user.
// what names the operation for context ("run job rs-…").
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrUnavailable) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := st.Message()
	switch st.Code() {
	case codes.NotFound:
		return withKind(errdefs.ErrNotFound, "%s: %s", what, msg)
	case codes.InvalidArgument, codes.OutOfRange:
		return withKind(errdefs.ErrInvalidArgument, "%s", msg)
	case codes.AlreadyExists:
		return withKind(errdefs.ErrAlreadyExists, "%s: %s", what, msg)
	case codes.FailedPrecondition, codes.Aborted:
		return withKind(errdefs.ErrConflict, "%s: %s", what, msg)
	case codes.PermissionDenied:
		return withKind(errdefs.ErrPermissionDenied, "%s: %s", what, msg)
	case codes.Unauthenticated:
		return withKind(errdefs.ErrUnauthenticated, "%s: %s", what, msg)
	case codes.ResourceExhausted:
		return quotaError(err, what, "")
	case codes.Unavailable, codes.DeadlineExceeded:
		return withKind(errdefs.ErrUnavailable, "%s: %s: %s", what, adminAPIUnavailable, msg)
	case codes.Canceled:
		return fmt.Errorf("%s: %w", what, err)
	case codes.Unimplemented:
		return withKind(errdefs.ErrNotImplemented, "%s: %s", what, msg)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

func isCode(err error, c codes.Code) bool {
	return status.Code(err) == c
}

var (
	errNotFound = errdefs.ErrNotFound
	errInvalid  = errdefs.ErrInvalidArgument
	// errNotImplemented: what this deployment is not configured for (volumes without a bucket).
	errNotImplemented = errdefs.ErrNotImplemented
)
