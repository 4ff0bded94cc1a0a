package logs

import (
	"context"
	"errors"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// tailBufferWindow is how long Cloud Logging holds tailed entries to order them; short, since the agent's live
// stream is the low-latency path and this is the fallback.
const tailBufferWindow = 500 * time.Millisecond

// follow yields the history, then new lines from a TailLogEntries stream opened before the history was listed (so
// nothing falls in between; overlaps are deduplicated), until the last execution's exit entry has been seen, or
// its end (q.Done) is older than the completion wait, or ctx ends.
func (r *Reader) follow(ctx context.Context, q Query, yield func(LogLine, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	entries := make(chan *loggingpb.LogEntry, 256)
	tailErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tailErr <- r.tail(ctx, outputFilter(r.project, q, true), entries)
	}()
	defer wg.Wait()
	defer cancel()

	seen := newDedupe(1 << 16)
	sawExit, err := r.history(ctx, q, seen, yield)
	if errors.Is(err, errStop) {
		return
	}
	if err != nil {
		yield(LogLine{}, err)
		return
	}
	last := q.Executions[len(q.Executions)-1]
	done := q.Done
	var expire <-chan time.Time
	for !sawExit {
		select {
		case <-ctx.Done():
			return
		case err := <-tailErr:
			if ctx.Err() == nil {
				yield(LogLine{}, err)
			}
			return
		case <-done:
			done = nil
			t := time.NewTimer(r.wait)
			defer t.Stop()
			expire = t.C
		case <-expire:
			r.log.WarnContext(ctx, "log completion wait expired", "execution", last)
			sawExit = true
		case e := <-entries:
			if isExit(r.project, e, last) {
				sawExit = true
				continue
			}
			if !r.emit(e, seen, yield) {
				return
			}
		}
	}
	// Tail delivers in ingestion order; a final listing catches any line ingested out of order before the exit.
	hq := q
	hq.Tail, hq.Follow = -1, false
	if _, err := r.history(ctx, hq, seen, yield); err != nil && !errors.Is(err, errStop) && ctx.Err() == nil {
		yield(LogLine{}, err)
	}
}

// tail runs TailLogEntries for filter, sending entries until ctx ends; a cut stream is redialled with backoff.
// It returns only a permanent error (or nil when ctx ends).
func (r *Reader) tail(ctx context.Context, filter string, out chan<- *loggingpb.LogEntry) error {
	delay := 100 * time.Millisecond
	for {
		err := r.tailOnce(ctx, filter, out)
		if ctx.Err() != nil {
			return nil
		}
		kerr := translate(err)
		if isPermanent(err) {
			return kerr
		}
		r.log.InfoContext(ctx, "log tail cut; redialling", "error", err)
		if sleep(ctx, delay) != nil {
			return nil
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (r *Reader) tailOnce(ctx context.Context, filter string, out chan<- *loggingpb.LogEntry) error {
	stream, err := r.api.TailLogEntries(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&loggingpb.TailLogEntriesRequest{
		ResourceNames: []string{"projects/" + r.project}, Filter: filter,
		BufferWindow: durationpb.New(tailBufferWindow),
	}); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, e := range resp.GetEntries() {
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
