package livelogs

import (
	"context"
	"time"
)

type subscriber struct {
	ch chan note
}

type note struct {
	chunks   []Chunk
	complete bool
	lost     bool // notes were dropped: re-read
}

func (s *Store) subscribe(id string) *subscriber {
	sub := &subscriber{ch: make(chan note, 64)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs[id] == nil {
		s.subs[id] = map[*subscriber]struct{}{}
	}
	s.subs[id][sub] = struct{}{}
	return sub
}

func (s *Store) unsubscribe(id string, sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs[id], sub)
	if len(s.subs[id]) == 0 {
		delete(s.subs, id)
	}
}

func (s *Store) notify(id string, chunks []Chunk, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs[id] {
		select {
		case sub.ch <- note{chunks: chunks, complete: complete}:
		default:
			select { // full: replace the oldest with a re-read request
			case <-sub.ch:
			default:
			}
			select {
			case sub.ch <- note{lost: true, complete: complete}:
			default:
			}
		}
	}
}

// FollowOptions choose where a follow starts and when it ends.
type FollowOptions struct {
	After uint64 // deliver sequences after this (0: from the start)
	// NextRun: if the container's current run is already complete when Follow starts, wait for a new run and follow
	// it to its end (attach before start, docker start -a). Otherwise Follow ends at the current run's completion.
	NextRun bool
	// SkipRun, when set, is a run whose completion does not end Follow: it waits for a later run and follows it to
	// its end. It is NextRun made explicit, for a follow that resumes one begun earlier.
	SkipRun string
}

// Follow calls fn with every chunk after opts.After, in order, as it becomes durable, until the run completes and
// everything is delivered (nil), fn fails, or ctx ends.
func (s *Store) Follow(ctx context.Context, id string, opts FollowOptions, fn func(Chunk) error) error {
	sub := s.subscribe(id)
	defer s.unsubscribe(id, sub)
	st, err := s.State(ctx, id)
	if err != nil {
		return err
	}
	skipRun, skip := st.Run, opts.NextRun && st.Complete
	if opts.SkipRun != "" {
		skipRun, skip = opts.SkipRun, true
	}
	next := opts.After + 1
	deliverOne := func(c Chunk) error {
		if c.Seq < next {
			return nil
		}
		if err := fn(c); err != nil {
			return err
		}
		next = c.Seq + 1
		return nil
	}
	deliver := func(chunks []Chunk) error {
		for _, c := range chunks {
			if err := deliverOne(c); err != nil {
				return err
			}
		}
		return nil
	}
	reread := true
	for {
		if reread {
			for c, err := range s.Chunks(ctx, id, next-1) {
				if err == nil {
					err = deliverOne(c)
				}
				if err != nil {
					return err
				}
			}
			if st, err = s.State(ctx, id); err != nil {
				return err
			}
			if st.Complete && next > st.LastSeq && !(skip && st.Run == skipRun) {
				return nil
			}
		}
		reread = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-sub.ch:
			switch {
			case n.lost || n.complete:
				reread = true
			case len(n.chunks) > 0 && n.chunks[0].Seq <= next:
				if err := deliver(n.chunks); err != nil {
					return err
				}
			default:
				reread = true // a gap: the missing chunks are in Firestore
			}
		case <-time.After(s.poll):
			reread = true
		}
	}
}
