package containers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
)

// sizes is a WritableSizer from a table; a container it does not know fails.
type sizes map[string]int64

func (s sizes) WritableSize(_ context.Context, id string) (int64, error) {
	n, ok := s[id]
	if !ok {
		return 0, errors.New("no size")
	}
	return n, nil
}

// Prune reports what the pruned containers' files took, as Docker's SpaceReclaimed sums their writable layers; a
// size that cannot be read counts as nothing and does not stop the prune.
func TestPruneReportsSpaceReclaimed(t *testing.T) {
	sz := sizes{}
	st, l := containerstest.NewStore(), containerstest.NewLauncher()
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}, Sizes: sz})
	t.Cleanup(func() { s.Close() })
	a := mustCreate(t, s, alice, "first", nil)
	b := mustCreate(t, s, alice, "second", nil)
	mustCreate(t, s, alice, "unknown-size", nil)
	other := mustCreate(t, s, bob, "bobs", nil)
	sz[a.ID], sz[b.ID], sz[other.ID] = 102400, 23, 1<<30
	rep, err := s.Prune(context.Background(), alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ContainersDeleted) != 3 || rep.SpaceReclaimed != 102423 {
		t.Fatalf("prune: %d deleted, %d bytes reclaimed; want 3 and 102423", len(rep.ContainersDeleted), rep.SpaceReclaimed)
	}
	if rep, _ := s.Prune(context.Background(), alice, nil); len(rep.ContainersDeleted) != 0 || rep.SpaceReclaimed != 0 {
		t.Fatalf("second prune: %+v", rep)
	}
}
