package errkind

import (
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
)

func TestKindSurvivesWrapping(t *testing.T) {
	err := fmt.Errorf("start c1: %w", New(errdefs.ErrNotFound, "No such container: %s", "c1"))
	if !errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("kind lost or wrong: %v", err)
	}
	if got := New(errdefs.ErrConflict, "name %q in use", "db").Error(); got != `name "db" in use` {
		t.Fatalf("message = %q", got)
	}
}
