package volumes

import (
	"context"
	"io"
	"sync"
)

// ImageTrees reads what an image has at a path (containerfs, from the image's layers in the registry).
type ImageTrees interface {
	// Tree returns the tar of image's directory dir, its entries named "./…", or nil when the image has no
	// directory there (nothing, or a file). Close it.
	Tree(ctx context.Context, image, dir string) (io.ReadCloser, error)
}

// maxBare bounds the memory of Copier's cache: past it, the cache starts again.
const maxBare = 4096

// Copier copies an image's files at a volume's mount point into the new empty volume, as Docker does when it
// creates a container (containers.VolumeCopier). It remembers, per image digest and path, where an image has
// nothing to copy (a VOLUME over an empty directory, as most database images declare), so that later creates of
// that image do not read its layers again; a digest reference names immutable content, so the memory never goes
// stale.
type Copier struct {
	files  *Files
	images ImageTrees

	mu   sync.Mutex
	bare map[string]bool // image + "\x00" + dir: nothing to copy
}

// NewCopier returns a Copier writing through files and reading images.
func NewCopier(files *Files, images ImageTrees) *Copier {
	return &Copier{files: files, images: images, bare: map[string]bool{}}
}

// CopyUp copies image's files under destination into the volume at prefix if the volume is empty, and reports
// whether it did.
func (c *Copier) CopyUp(ctx context.Context, image, destination, prefix string) (bool, error) {
	key := image + "\x00" + destination
	c.mu.Lock()
	bare := c.bare[key]
	c.mu.Unlock()
	if bare {
		return false, nil
	}
	return c.files.CopyUp(ctx, prefix, func() (io.ReadCloser, error) {
		rc, err := c.images.Tree(ctx, image, destination)
		if err == nil && rc == nil {
			c.mu.Lock()
			if len(c.bare) >= maxBare {
				c.bare = map[string]bool{}
			}
			c.bare[key] = true
			c.mu.Unlock()
		}
		return rc, err
	})
}
