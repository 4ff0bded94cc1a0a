package logs

import (
	"context"
	"errors"
	"path"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"golang.org/x/time/rate"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/runsock/runsock/controlplane/internal/googlequota"
)

// Cloud Logging's quotas: entries.list is 60 requests per minute per project, live tailing 10 sessions per
// project. The reader never tails: every follower of an execution shares one poll of it (a feed), and every
// entries.list — history pages and polls alike — takes a token of one bucket.
const (
	// DefaultListsPerMinute is the entries.list quota the reader keeps within.
	DefaultListsPerMinute = 60
	// feedPoll is how often an execution's feed lists new entries; with many feeds the bucket spaces them out.
	feedPoll = time.Second
	// feedLookback re-reads entries received this long before the newest one seen, since entries become visible
	// to entries.list a few seconds after they are received, not in order; duplicates are dropped by insertId.
	feedLookback = 10 * time.Second
)

// feed is the one poll of an execution's entries (output and system), shared by every reader following it. It
// runs while it has subscribers.
type feed struct {
	exec string // short execution ID
	subs map[*feedSub]struct{}
	stop context.CancelFunc
}

// feedSub is one reader's queue of a feed's new entries, at most maxQueued of them: a reader that falls further
// behind is told so (errBehind) and catches up by listing, rather than the feed holding its backlog.
type feedSub struct {
	signal chan struct{}

	mu     sync.Mutex
	buf    []*loggingpb.LogEntry
	behind bool
	err    error
}

// maxQueued bounds a subscriber's queue: a few pages.
const maxQueued = 4 * pageSize

// errBehind reports that a subscriber's queue overflowed and entries were dropped from it.
var errBehind = errors.New("logs: follower fell behind its feed")

// take returns the queued entries, and errBehind once if some were dropped (then the feed's error, if any).
func (s *feedSub) take() ([]*loggingpb.LogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := s.buf
	s.buf = nil
	if s.behind {
		s.behind = false
		return buf, errBehind
	}
	return buf, s.err
}

func (s *feedSub) offer(entries []*loggingpb.LogEntry, err error) {
	s.mu.Lock()
	if len(s.buf)+len(entries) > maxQueued {
		s.buf, s.behind = nil, true
	} else {
		s.buf = append(s.buf, entries...)
	}
	if err != nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// subscribe joins (or starts) the feed of execution and returns the subscription and its cancel. Entries received
// from about now on are delivered; earlier ones are the caller's history to read.
func (r *Reader) subscribe(execution string) (*feedSub, func()) {
	exec := path.Base(execution)
	sub := &feedSub{signal: make(chan struct{}, 1)}
	r.feedsMu.Lock()
	defer r.feedsMu.Unlock()
	f := r.feeds[exec]
	if f == nil {
		ctx, stop := context.WithCancel(r.ctx)
		f = &feed{exec: exec, subs: map[*feedSub]struct{}{}, stop: stop}
		r.feeds[exec] = f
		if r.ctx.Err() == nil { // Close cancels r.ctx under feedsMu: no feed starts after its Wait began
			r.wg.Add(1)
			go r.runFeed(ctx, f, time.Now().Add(-feedLookback))
		}
	}
	f.subs[sub] = struct{}{}
	return sub, func() {
		r.feedsMu.Lock()
		defer r.feedsMu.Unlock()
		delete(f.subs, sub)
		if len(f.subs) == 0 && r.feeds[exec] == f {
			delete(r.feeds, exec)
			f.stop()
		}
	}
}

// runFeed polls the execution's entries received since from, and hands new ones to the subscribers a page at a
// time.
func (r *Reader) runFeed(ctx context.Context, f *feed, from time.Time) {
	defer r.wg.Done()
	seen := newDedupe(1 << 16)
	newest := from.Add(feedLookback)
	hand := func(entries []*loggingpb.LogEntry, err error) {
		r.feedsMu.Lock()
		defer r.feedsMu.Unlock()
		for s := range f.subs {
			s.offer(entries, err)
		}
	}
	for {
		req := &loggingpb.ListLogEntriesRequest{
			ResourceNames: []string{"projects/" + r.project},
			Filter:        baseFilter([]string{f.exec}) + " AND receiveTimestamp>=" + quote(rfc3339(newest.Add(-feedLookback))),
			OrderBy:       "timestamp asc", PageSize: pageSize,
		}
		var fresh []*loggingpb.LogEntry
		err := r.each(ctx, req, func(e *loggingpb.LogEntry) error {
			if seen.first(e.GetInsertId()) {
				fresh = append(fresh, e)
			}
			if rt := e.GetReceiveTimestamp().AsTime(); rt.After(newest) {
				newest = rt
			}
			if len(fresh) == pageSize {
				hand(fresh, nil)
				fresh = nil
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = translate(err)
			r.log.WarnContext(ctx, "log poll failed", "execution", f.exec, "error", err)
		}
		hand(fresh, err)
		if googlequota.Sleep(ctx, feedPoll) != nil {
			return
		}
	}
}

// each runs entries.list for req and hands fn its entries in order, page by page within the quota: a token for
// every page fetched, and retries while Cloud Logging refuses the quota, resuming at the page refused. It holds one
// page at a time, so a listing of any length costs the memory of a page. An error from fn ends the listing and
// is returned as is.
func (r *Reader) each(ctx context.Context, req *loggingpb.ListLogEntriesRequest, fn func(*loggingpb.LogEntry) error) error {
	req = proto.CloneOf(req)
	var stopped error
	err := r.retry.Do(ctx, func(ctx context.Context) error {
		it := r.api.ListLogEntries(ctx, req)
		for first := true; ; first = false {
			if pageDue(it.PageInfo(), first) {
				if err := r.lists.Wait(ctx); err != nil {
					return err
				}
			}
			e, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				req.PageToken = it.PageInfo().Token // a retry resumes here: the entries before it were handed on
				return err
			}
			if err := fn(e); err != nil {
				stopped = err
				return nil
			}
		}
	})
	if stopped != nil {
		return stopped
	}
	return err
}

// list returns the first limit (> 0) entries of req's listing.
func (r *Reader) list(ctx context.Context, req *loggingpb.ListLogEntriesRequest, limit int) ([]*loggingpb.LogEntry, error) {
	var out []*loggingpb.LogEntry
	err := r.each(ctx, req, func(e *loggingpb.LogEntry) error {
		out = append(out, e)
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}

// pageSize is the entries asked for per entries.list: Cloud Logging's largest page, so that a long history costs
// as few requests of the per-minute quota as it can.
const pageSize = 1000

func newListLimiter(perMinute int) *rate.Limiter {
	if perMinute <= 0 {
		perMinute = DefaultListsPerMinute
	}
	return rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute)
}

// pageDue reports whether the iterator's next Next fetches a page: the first call, or the current page is used up
// and another follows.
func pageDue(p *iterator.PageInfo, first bool) bool {
	return first || (p.Remaining() == 0 && p.Token != "")
}
