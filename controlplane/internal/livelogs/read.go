package livelogs

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
)

// ReadOptions select chunks. Zero values select everything.
type ReadOptions struct {
	After uint64    // only sequences after this
	Since time.Time // only chunks written at or after this
	Until time.Time // only chunks written before this
	Tail  int       // only the last Tail lines (0 = all; Docker's "all")
}

// Read returns the selected chunks in sequence order, all in memory: for tests and small reads. Readers of a whole
// log use Chunks, which holds one batch at a time.
func (s *Store) Read(ctx context.Context, id string, opts ReadOptions) ([]Chunk, error) {
	var chunks []Chunk
	if opts.Tail > 0 {
		tail, err := s.readTail(ctx, id, opts.Tail, opts.After)
		if err != nil {
			return nil, err
		}
		for _, c := range tail {
			if opts.selects(c) {
				chunks = append(chunks, c)
			}
		}
		return chunks, nil
	}
	for c, err := range s.Chunks(ctx, id, opts.After) {
		if err != nil {
			return nil, err
		}
		if opts.selects(c) {
			chunks = append(chunks, c)
		}
	}
	return chunks, nil
}

// selects reports whether c was written within [Since, Until).
func (o ReadOptions) selects(c Chunk) bool {
	return (o.Since.IsZero() || !c.Time.Before(o.Since)) && (o.Until.IsZero() || c.Time.Before(o.Until))
}

// Chunks yields every chunk after seq in sequence order, deduplicated, reading one batch document at a time: memory
// stays flat however much the container printed. An error ends the sequence.
func (s *Store) Chunks(ctx context.Context, id string, after uint64) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		it := s.batches(id).Where("last", ">", int64(after)).OrderBy("last", firestore.Asc).Documents(ctx)
		defer it.Stop()
		next := after + 1
		for {
			snap, err := it.Next()
			if err == iterator.Done {
				return
			}
			if err != nil {
				yield(Chunk{}, fmt.Errorf("livelogs %s: read: %w", id, err))
				return
			}
			var d batchDoc
			if err := snap.DataTo(&d); err != nil {
				yield(Chunk{}, fmt.Errorf("livelogs %s: decode %s: %w", id, snap.Ref.ID, err))
				return
			}
			for _, c := range d.Chunks {
				if uint64(c.Seq) < next {
					continue
				}
				if !yield(Chunk{Stream: uint8(c.Stream), Seq: uint64(c.Seq), Time: c.Time, Data: c.Data}, nil) {
					return
				}
				next = uint64(c.Seq) + 1
			}
		}
	}
}

// readTail reads batches from the end until it holds more than n lines, then trims to the last n.
func (s *Store) readTail(ctx context.Context, id string, n int, after uint64) ([]Chunk, error) {
	it := s.batches(id).Where("last", ">", int64(after)).OrderBy("last", firestore.Desc).Documents(ctx)
	defer it.Stop()
	var rev []Chunk // newest first
	lines := 0
	for lines <= n {
		snap, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("livelogs %s: read tail: %w", id, err)
		}
		var d batchDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, fmt.Errorf("livelogs %s: decode %s: %w", id, snap.Ref.ID, err)
		}
		for i := len(d.Chunks) - 1; i >= 0; i-- {
			c := d.Chunks[i]
			rev = append(rev, Chunk{Stream: uint8(c.Stream), Seq: uint64(c.Seq), Time: c.Time, Data: c.Data})
			lines += bytes.Count(c.Data, []byte{'\n'})
		}
	}
	// Ascending and deduplicated.
	var chunks []Chunk
	var next uint64
	for i := len(rev) - 1; i >= 0; i-- {
		if rev[i].Seq > after && rev[i].Seq >= next {
			chunks = append(chunks, rev[i])
			next = rev[i].Seq + 1
		}
	}
	return tailLines(chunks, n), nil
}

// tailLines keeps the last n lines of chunks (a final line without a newline counts as a line).
func tailLines(chunks []Chunk, n int) []Chunk {
	seen := 0
	for i := len(chunks) - 1; i >= 0; i-- {
		d := chunks[i].Data
		for j := len(d) - 1; j >= 0; j-- {
			if d[j] != '\n' {
				continue
			}
			if i == len(chunks)-1 && j == len(d)-1 {
				continue // the newline ending the last line
			}
			seen++
			if seen == n {
				out := append([]Chunk{}, chunks[i:]...)
				out[0].Data = d[j+1:]
				out[0].Offset += j + 1
				if len(out[0].Data) == 0 {
					out = out[1:]
				}
				return out
			}
		}
	}
	return chunks
}
