package livelogs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Chunk is one piece of output.
type Chunk struct {
	Stream uint8 // 1 stdout, 2 stderr
	Seq    uint64
	Time   time.Time
	Data   []byte
	// Offset is where Data begins in the stored chunk: non-zero only for a chunk that a read cut (the first line of
	// a tail), so that a reader can name exactly where its output began.
	Offset int
}

// State is a container's live-log state.
type State struct {
	LastSeq  uint64
	Run      string
	Base     uint64 // the last sequence before the current run
	Complete bool   // the current run has exited and all its output is durable
	ExitCode int
	ExitedAt time.Time
}

type stateDoc struct {
	LastSeq  int64     `firestore:"lastSeq"`
	Run      string    `firestore:"run"`
	Base     int64     `firestore:"base"`
	Complete bool      `firestore:"complete"`
	ExitCode int       `firestore:"exitCode"`
	ExitedAt time.Time `firestore:"exitedAt"`
}

type chunkDoc struct {
	Seq    int64     `firestore:"s"`
	Stream int       `firestore:"o"`
	Time   time.Time `firestore:"t"`
	Data   []byte    `firestore:"d"`
}

type batchDoc struct {
	First  int64      `firestore:"first"`
	Last   int64      `firestore:"last"`
	Chunks []chunkDoc `firestore:"chunks"`
}

// Options configure a Store.
type Options struct {
	Collection string        // root collection; "" = "livelogs"
	Poll       time.Duration // how often followers re-read Firestore without a notification; 0 = 2 s
	Log        *slog.Logger  // nil = discard
}

// Store reads and writes live logs.
type Store struct {
	fs   *firestore.Client
	root string
	poll time.Duration
	log  *slog.Logger

	mu   sync.Mutex
	last map[string]uint64 // durable sequence per container, as this instance knows it
	subs map[string]map[*subscriber]struct{}
}

// New returns a Store on fs.
func New(fs *firestore.Client, opts Options) *Store {
	if opts.Collection == "" {
		opts.Collection = "livelogs"
	}
	if opts.Poll == 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{fs: fs, root: opts.Collection, poll: opts.Poll, log: opts.Log,
		last: map[string]uint64{}, subs: map[string]map[*subscriber]struct{}{}}
}

func (s *Store) stateRef(id string) *firestore.DocumentRef { return s.fs.Collection(s.root).Doc(id) }

func (s *Store) batches(id string) *firestore.CollectionRef {
	return s.stateRef(id).Collection("batches")
}

// State reads a container's state; a container without live logs has the zero State.
func (s *Store) State(ctx context.Context, id string) (State, error) {
	snap, err := s.stateRef(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("livelogs %s: read state: %w", id, err)
	}
	var d stateDoc
	if err := snap.DataTo(&d); err != nil {
		return State{}, fmt.Errorf("livelogs %s: decode state: %w", id, err)
	}
	st := State{LastSeq: uint64(d.LastSeq), Run: d.Run, Base: uint64(d.Base), Complete: d.Complete, ExitCode: d.ExitCode, ExitedAt: d.ExitedAt}
	if !st.Complete {
		// The state document's lastSeq is written when a run begins and completes, not with every batch: while a
		// run goes on, the newest batch has it.
		last, err := s.lastBatch(ctx, nil, id)
		if err != nil {
			return State{}, err
		}
		st.LastSeq = max(st.LastSeq, last)
	}
	s.mu.Lock()
	if st.LastSeq > s.last[id] {
		s.last[id] = st.LastSeq
	}
	s.mu.Unlock()
	return st, nil
}

// lastBatch returns the last sequence of the container's newest batch (0 without batches), in tx when not nil.
func (s *Store) lastBatch(ctx context.Context, tx *firestore.Transaction, id string) (uint64, error) {
	q := s.batches(id).OrderBy("last", firestore.Desc).Limit(1)
	var it *firestore.DocumentIterator
	if tx != nil {
		it = tx.Documents(q)
	} else {
		it = q.Documents(ctx)
	}
	defer it.Stop()
	snap, err := it.Next()
	if err == iterator.Done {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("livelogs %s: read last batch: %w", id, err)
	}
	var d batchDoc
	if err := snap.DataTo(&d); err != nil {
		return 0, fmt.Errorf("livelogs %s: decode %s: %w", id, snap.Ref.ID, err)
	}
	return uint64(d.Last), nil
}

// BeginRun records that run is the container's current run and returns its base sequence: the agent's sequence n
// is stored as base+n. Calling it again for the same run returns the same base.
func (s *Store) BeginRun(ctx context.Context, id, run string) (uint64, error) {
	var base uint64
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(s.stateRef(id))
		var d stateDoc
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			return err
		default:
			if err := snap.DataTo(&d); err != nil {
				return err
			}
			if d.Run == run {
				base = uint64(d.Base)
				return nil
			}
		}
		// A run that ended without completing (its agent killed) left lastSeq behind its batches.
		last, err := s.lastBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		base = max(uint64(d.LastSeq), last)
		return tx.Set(s.stateRef(id), map[string]any{"run": run, "base": int64(base), "lastSeq": int64(base), "complete": false},
			firestore.MergeAll)
	})
	if err != nil {
		return 0, fmt.Errorf("livelogs %s: begin run: %w", id, err)
	}
	return base, nil
}

// durable returns the durable sequence, reading it from Firestore when this instance does not know it yet.
func (s *Store) durable(ctx context.Context, id string) (uint64, error) {
	s.mu.Lock()
	last, ok := s.last[id]
	s.mu.Unlock()
	if ok {
		return last, nil
	}
	st, err := s.State(ctx, id) // the newest batch included
	if err != nil {
		return 0, err
	}
	return st.LastSeq, nil
}

// Append makes chunks (ascending sequences) durable in one write of one new batch document, and returns the highest
// durable sequence. Chunks at or below the durable sequence are skipped. Append must not be called concurrently for
// one container (the container's one output stream is its only writer). It does not touch the state document:
// Google's guidance is about one sustained write per second per document, and a container printing steadily makes
// many batches a second; every batch document is written once.
func (s *Store) Append(ctx context.Context, id string, chunks []Chunk) (uint64, error) {
	last, err := s.durable(ctx, id)
	if err != nil {
		return 0, err
	}
	var fresh []Chunk
	for _, c := range chunks {
		if c.Seq > last {
			fresh = append(fresh, c)
			last = c.Seq
		}
	}
	if len(fresh) == 0 {
		return last, nil
	}
	doc := batchDoc{First: int64(fresh[0].Seq), Last: int64(last)}
	for _, c := range fresh {
		doc.Chunks = append(doc.Chunks, chunkDoc{Seq: int64(c.Seq), Stream: int(c.Stream), Time: c.Time, Data: c.Data})
	}
	// One document, one round trip: this write is on the latency path of every line a container prints.
	if _, err := s.batches(id).Doc(fmt.Sprintf("%020d", doc.First)).Set(ctx, doc); err != nil {
		return 0, fmt.Errorf("livelogs %s: append %d chunks: %w", id, len(fresh), err)
	}
	s.mu.Lock()
	if last > s.last[id] {
		s.last[id] = last
	}
	s.mu.Unlock()
	s.notify(id, fresh, false)
	return last, nil
}

// Complete records that run exited, with its last durable sequence: followers end once they have every chunk. When
// run is no longer the container's current run (a late report of a run that a restart replaced) nothing changes:
// the current run's followers must not end.
func (s *Store) Complete(ctx context.Context, id, run string, code int, at time.Time) error {
	last, err := s.durable(ctx, id)
	if err != nil {
		return err
	}
	current := false
	err = s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(s.stateRef(id))
		if err != nil {
			return err
		}
		var d stateDoc
		if err := snap.DataTo(&d); err != nil {
			return err
		}
		if current = d.Run == run; !current {
			return nil
		}
		return tx.Set(s.stateRef(id), map[string]any{"complete": true, "exitCode": code, "exitedAt": at, "lastSeq": int64(last)},
			firestore.MergeAll)
	})
	if err != nil {
		return fmt.Errorf("livelogs %s: complete: %w", id, err)
	}
	if current {
		s.notify(id, nil, true)
	}
	return nil
}

// Delete removes a container's live logs.
func (s *Store) Delete(ctx context.Context, id string) error {
	for {
		refs, err := s.batches(id).Limit(400).Select().Documents(ctx).GetAll()
		if err != nil {
			return fmt.Errorf("livelogs %s: delete: %w", id, err)
		}
		if len(refs) == 0 {
			break
		}
		wb := s.fs.Batch()
		for _, r := range refs {
			wb.Delete(r.Ref)
		}
		if _, err := wb.Commit(ctx); err != nil {
			return fmt.Errorf("livelogs %s: delete: %w", id, err)
		}
	}
	if _, err := s.stateRef(id).Delete(ctx); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("livelogs %s: delete: %w", id, err)
	}
	s.mu.Lock()
	delete(s.last, id)
	s.mu.Unlock()
	return nil
}
