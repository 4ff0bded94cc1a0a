package logs

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
)

// follow yields the history, then new lines from the last execution's shared feed, subscribed before the history
// is listed (so nothing falls in between; overlaps are deduplicated), until the last execution's exit entry has
// been seen, or its end (q.Done) is older than the completion wait, or ctx ends. A follower too slow for the
// feed's queue catches up by listing from its last line.
func (r *Reader) follow(ctx context.Context, q Query, yieldLine func(LogLine, error) bool) {
	last := q.Executions[len(q.Executions)-1]
	sub, unsubscribe := r.subscribe(last)
	defer unsubscribe()

	var newest time.Time // of the lines yielded
	yield := func(l LogLine, err error) bool {
		if l.Time.After(newest) {
			newest = l.Time
		}
		return yieldLine(l, err)
	}
	seen := newDedupe(1 << 16)
	sawExit, err := r.history(ctx, q, seen, yield)
	if errors.Is(err, errStop) {
		return
	}
	if err != nil {
		yield(LogLine{}, err)
		return
	}
	done := q.Done
	var expire <-chan time.Time
	for !sawExit {
		select {
		case <-ctx.Done():
			return
		case <-done:
			done = nil
			t := time.NewTimer(r.wait)
			defer t.Stop()
			expire = t.C
		case <-expire:
			r.log.WarnContext(ctx, "log completion wait expired", "execution", last)
			sawExit = true
		case <-sub.signal:
			entries, err := sub.take()
			if errors.Is(err, errBehind) { // what was dropped, and what is queued, is listed again
				cq := q
				cq.Tail = -1
				if since := newest.Add(-feedLookback); since.After(cq.Since) {
					cq.Since = since
				}
				exit, err := r.history(ctx, cq, seen, yield)
				if errors.Is(err, errStop) {
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						yield(LogLine{}, err)
					}
					return
				}
				sawExit = sawExit || exit
				continue
			}
			for _, e := range entries {
				if isExit(r.project, e, last) {
					sawExit = true
					continue
				}
				if !r.wanted(q, e) {
					continue
				}
				if !r.emit(e, seen, yield) {
					return
				}
			}
			if err != nil {
				if ctx.Err() == nil {
					yield(LogLine{}, err)
				}
				return
			}
		}
	}
	// The feed delivers in the order entries become visible; a final listing catches any line visible out of order
	// before the exit.
	hq := q
	hq.Tail, hq.Follow = -1, false
	if _, err := r.history(ctx, hq, seen, yield); err != nil && !errors.Is(err, errStop) && ctx.Err() == nil {
		yield(LogLine{}, err)
	}
}

// wanted reports whether a feed entry (any stream of the execution) is output q asked for.
func (r *Reader) wanted(q Query, e *loggingpb.LogEntry) bool {
	switch streamOf(r.project, e) {
	case Stdout:
		if !q.Stdout {
			return false
		}
	case Stderr:
		if !q.Stderr {
			return false
		}
	default:
		return false
	}
	ts := e.GetTimestamp().AsTime()
	return (q.Since.IsZero() || !ts.Before(q.Since)) && (q.Until.IsZero() || !ts.After(q.Until))
}
