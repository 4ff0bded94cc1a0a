package containerfs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"google.golang.org/api/iterator"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

const (
	// MaxStagedArchive is the largest archive that can be copied into a container that is not running. Staged
	// archives live in Firestore (Cloud Storage is not wired yet), in chunks below its 1 MiB document limit.
	MaxStagedArchive = 32 << 20
	chunkBytes       = 768 << 10
	rootCollection   = "stagedfiles"
)

// PutOptions are Docker's archive PUT options.
type PutOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
}

// Staged is one archive copied into a container before a start: extract Data (a tar, plain or compressed) into
// the directory Path, as Docker's PUT archive does.
type Staged struct {
	Path string
	PutOptions
	Data []byte
}

// Staging keeps staged archives in Firestore, in the order they arrived, for every later start of the container
// (Docker keeps the files in the container's filesystem; runsock starts each run from the image). Each archive is
// documents stagedfiles/{container}/archives/{seq}-{chunk}, written chunk 0 last so a partial write is never read.
type Staging struct {
	fs  *firestore.Client
	now func() time.Time
}

// NewStaging returns a Staging on fs.
func NewStaging(fs *firestore.Client) *Staging { return &Staging{fs: fs, now: time.Now} }

type chunkDoc struct {
	Path                 string `firestore:"path"`
	NoOverwriteDirNonDir bool   `firestore:"noOverwriteDirNonDir"`
	CopyUIDGID           bool   `firestore:"copyUIDGID"`
	Chunk                int    `firestore:"chunk"`
	Chunks               int    `firestore:"chunks"`
	Data                 []byte `firestore:"data"`
}

func (s *Staging) col(id string) *firestore.CollectionRef {
	return s.fs.Collection(rootCollection).Doc(id).Collection("archives")
}

// TooLarge is the error for an archive over MaxStagedArchive.
func TooLarge(id string) error {
	return errkind.New(errkind.ErrTooLarge, "container %s is not running: archives copied into it before it starts are "+
		"kept up to %d MiB each; start it first to copy more", id, MaxStagedArchive>>20)
}

// Stage records a for id's next starts, after those staged before it.
func (s *Staging) Stage(ctx context.Context, id string, a Staged) error {
	if len(a.Data) > MaxStagedArchive {
		return TooLarge(id)
	}
	seq := fmt.Sprintf("%020d", s.now().UnixNano())
	n := max(1, (len(a.Data)+chunkBytes-1)/chunkBytes)
	for i := n - 1; i >= 0; i-- { // chunk 0 last: it makes the archive visible
		end := min(len(a.Data), (i+1)*chunkBytes)
		d := chunkDoc{Path: a.Path, NoOverwriteDirNonDir: a.NoOverwriteDirNonDir, CopyUIDGID: a.CopyUIDGID,
			Chunk: i, Chunks: n, Data: a.Data[i*chunkBytes : end]}
		if _, err := s.col(id).Doc(seq+"-"+strconv.Itoa(i)).Set(ctx, d); err != nil {
			return errkind.New(errdefs.ErrUnavailable, "stage archive for %s: %v", id, err)
		}
	}
	return nil
}

// List returns id's complete staged archives, oldest first.
func (s *Staging) List(ctx context.Context, id string) ([]Staged, error) {
	type partial struct {
		head   *chunkDoc
		chunks map[int][]byte
	}
	bySeq := map[string]*partial{}
	it := s.col(id).Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, errkind.New(errdefs.ErrUnavailable, "read staged archives of %s: %v", id, err)
		}
		var d chunkDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", snap.Ref.Path, err)
		}
		seq, _, _ := strings.Cut(snap.Ref.ID, "-")
		p := bySeq[seq]
		if p == nil {
			p = &partial{chunks: map[int][]byte{}}
			bySeq[seq] = p
		}
		p.chunks[d.Chunk] = d.Data
		if d.Chunk == 0 {
			p.head = &d
		}
	}
	seqs := make([]string, 0, len(bySeq))
	for seq := range bySeq {
		seqs = append(seqs, seq)
	}
	sort.Strings(seqs)
	var out []Staged
	for _, seq := range seqs {
		p := bySeq[seq]
		if p.head == nil || len(p.chunks) != p.head.Chunks {
			continue // still being written, or a write that failed half-way
		}
		a := Staged{Path: p.head.Path, PutOptions: PutOptions{NoOverwriteDirNonDir: p.head.NoOverwriteDirNonDir,
			CopyUIDGID: p.head.CopyUIDGID}}
		for i := range p.head.Chunks {
			a.Data = append(a.Data, p.chunks[i]...)
		}
		out = append(out, a)
	}
	return out, nil
}

// Delete removes id's staged archives (the container is removed).
func (s *Staging) Delete(ctx context.Context, id string) error {
	refs, err := s.col(id).DocumentRefs(ctx).GetAll()
	if err != nil {
		return err
	}
	for _, r := range refs {
		if _, err := r.Delete(ctx); err != nil {
			return err
		}
	}
	_, err = s.fs.Collection(rootCollection).Doc(id).Delete(ctx) // the capture's record (Captures)
	return err
}

// Files is a Staging, a Reader and the Captures together: what the sessions of containers that are not running
// use. Captures may be nil: exited containers' files are then not kept.
type Files struct {
	*Staging
	*Reader
	Captures *Captures
	// Limit is the largest capture kept, in bytes of file contents.
	Limit int64

	mu      sync.Mutex
	pending map[string]chan struct{} // container → closed when its capture in progress ends
}

// CaptureBegins notes that id's capture is in progress: reads of its files and its next start wait for it.
func (f *Files) CaptureBegins(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[string]chan struct{}{}
	}
	if _, ok := f.pending[id]; !ok {
		f.pending[id] = make(chan struct{})
	}
}

// CaptureDone ends what CaptureBegins noted.
func (f *Files) CaptureDone(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.pending[id]; ok {
		close(ch)
		delete(f.pending, id)
	}
}

// WaitCapture waits for id's capture in progress, if any, or for ctx: docker cp right after docker wait sees the
// files, and a restart right after the exit restores them.
func (f *Files) WaitCapture(ctx context.Context, id string) {
	f.mu.Lock()
	ch := f.pending[id]
	f.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// View returns the filesystem of a container of image with staged on top.
func (f *Files) View(image string, staged []Staged) *View { return f.Reader.View(image, staged) }
