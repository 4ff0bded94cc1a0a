package logging

import (
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	defaultBufferWindow = 2 * time.Second
	maxBufferWindow     = 60 * time.Second
	// maxTailBacklog bounds what one slow tail client can hold; more is dropped and reported as suppressed.
	maxTailBacklog = 10_000
)

// tail is one TailLogEntries session's queue of matching entries.
type tail struct {
	projects map[string]bool
	filter   *Filter
	signal   chan struct{}

	mu      sync.Mutex
	buf     []*loggingpb.LogEntry
	dropped int32
}

// offer queues the batch's matching entries; it is called with the Service's lock held.
func (t *tail) offer(batch []*loggingpb.LogEntry) {
	t.mu.Lock()
	added := false
	for _, e := range batch {
		if !t.projects[projectOfLog(e.GetLogName())] || !t.filter.Match(e) {
			continue
		}
		if len(t.buf) >= maxTailBacklog {
			t.dropped++
			continue
		}
		t.buf = append(t.buf, e)
		added = true
	}
	t.mu.Unlock()
	if added {
		select {
		case t.signal <- struct{}{}:
		default:
		}
	}
}

func (t *tail) take() ([]*loggingpb.LogEntry, int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	buf, dropped := t.buf, t.dropped
	t.buf, t.dropped = nil, 0
	return buf, dropped
}

// TailLogEntries streams entries that become visible after the call starts. The first request names the resources,
// the filter and the buffer window (0–60 s, default 2 s) for which entries are held to be sent in timestamp order.
func (s *Service) TailLogEntries(stream loggingpb.LoggingServiceV2_TailLogEntriesServer) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	projects, err := projectsOf(req.GetResourceNames())
	if err != nil {
		return invalid("%v", err)
	}
	filter, err := ParseFilter(req.GetFilter())
	if err != nil {
		return invalid("%v", err)
	}
	window := defaultBufferWindow
	if bw := req.GetBufferWindow(); bw != nil {
		window = bw.AsDuration()
		if window < 0 || window > maxBufferWindow {
			return invalid("buffer_window must be between 0 and 60s, got %s", window)
		}
	}
	t := &tail{projects: projects, filter: filter, signal: make(chan struct{}, 1)}
	s.mu.Lock()
	err = s.openTail(t)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		s.mu.Lock()
		delete(s.tails, t)
		s.mu.Unlock()
	}()

	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return status.Error(codes.Unavailable, "logging service is shutting down")
		case <-t.signal:
		}
		if window > 0 {
			timer := time.NewTimer(window)
			select {
			case <-ctx.Done():
				timer.Stop()
				return status.FromContextError(ctx.Err()).Err()
			case <-timer.C:
			}
		}
		entries, dropped := t.take()
		slices.SortStableFunc(entries, func(a, b *loggingpb.LogEntry) int { return keyOf(a).compare(keyOf(b)) })
		resp := &loggingpb.TailLogEntriesResponse{Entries: entries}
		if dropped > 0 {
			resp.SuppressionInfo = []*loggingpb.TailLogEntriesResponse_SuppressionInfo{{
				Reason:          loggingpb.TailLogEntriesResponse_SuppressionInfo_NOT_CONSUMED,
				SuppressedCount: dropped,
			}}
		}
		if len(entries) == 0 && dropped == 0 {
			continue
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}
