package containerfs

import (
	"context"
	"fmt"
)

// WritableSize is what a container's own files take, Docker's SizeRw (the size of its writable layer): the file
// contents its last run left, as captured after its exit, or, when it has not run (or nothing was captured), the
// archives copied into it before it started. It is what removing the container frees.
func (f *Files) WritableSize(ctx context.Context, id string) (int64, error) {
	if f.Captures != nil {
		rec, err := f.Captures.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		if rec != nil && rec.Image != "" {
			return rec.Bytes, nil
		}
	}
	staged, err := f.Staging.List(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", id, err)
	}
	var n int64
	for _, a := range staged {
		n += int64(len(a.Data))
	}
	return n, nil
}
