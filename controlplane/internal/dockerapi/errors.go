package dockerapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// statusOf maps an error kind to Docker's status code: the only place that does.
func statusOf(err error) int {
	switch {
	case errors.As(err, new(*tooLargeError)):
		return http.StatusRequestEntityTooLarge
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err), errdefs.IsFailedPrecondition(err):
		return http.StatusConflict
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err), errdefs.IsResourceExhausted(err):
		return http.StatusServiceUnavailable
	case errors.Is(err, errkind.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// writeError writes {"message": ...}. A 500's text is our fault and may name internals, so the client gets a
// generic message and the log gets the detail. Nothing is written, or logged, when the client has gone: whatever
// failed then (a Firestore call cut short, as often as not) failed because it left.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	code := statusOf(err)
	msg := err.Error()
	if code >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", code), slog.String("err", msg))
		if code == http.StatusInternalServerError {
			msg = "internal error in the runsock control plane; see its logs"
		}
	}
	if code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	writeJSON(w, code, map[string]string{"message": msg})
}

func invalid(format string, args ...any) error {
	return &errkind.Error{Msg: fmt.Sprintf(format, args...), Kind: errdefs.ErrInvalidArgument}
}

func notFound(msg string) error { return &errkind.Error{Msg: msg, Kind: errdefs.ErrNotFound} }

func notImplemented(msg string) error {
	return &errkind.Error{Msg: msg, Kind: errdefs.ErrNotImplemented}
}
