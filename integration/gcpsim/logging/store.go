package logging

import (
	"cmp"
	"fmt"
	"github.com/runsock/runsock/integration/gcpsim/quota"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultIngestionDelay is how long an ingested entry stays invisible, standing in for Cloud Logging's lag.
const DefaultIngestionDelay = 2 * time.Second

// DefaultMaxEntries is how many visible entries the Service keeps by default; older ones are dropped.
const DefaultMaxEntries = 100_000

// Publisher receives every entry once it becomes visible, in ingestion order (the log sinks).
// Publish is called from the Service's own goroutine and must not block for long.
type Publisher interface {
	Publish(entries []*loggingpb.LogEntry)
}

// Config configures a Service. The zero value is usable.
type Config struct {
	// IngestionDelay is how long after Ingest an entry becomes visible. 0 means DefaultIngestionDelay;
	// a negative value makes entries visible at once.
	IngestionDelay time.Duration
	// MaxEntries bounds the visible entries kept in memory (0 means DefaultMaxEntries); the oldest are dropped first.
	MaxEntries int
	// Publisher, if set, is handed every entry when it becomes visible.
	Publisher Publisher
	// Logger may be nil (discard).
	Logger *slog.Logger
	// ProjectNumbers maps project IDs to numbers, for the consumer named in quota errors.
	ProjectNumbers map[string]string
	// ListsPerMinute is the entries.list quota per project (0 = DefaultListsPerMinute, negative = unlimited).
	ListsPerMinute int
	// TailSessions is how many TailLogEntries sessions a project may have open (0 = DefaultTailSessions, negative =
	// unlimited).
	TailSessions int
	// Now is the quotas' clock (nil = time.Now).
	Now func() time.Time
}

// Service is the Cloud Logging v2 service. Create it with New, register it with Register, stop it with Close.
type Service struct {
	loggingpb.UnimplementedLoggingServiceV2Server

	delay time.Duration
	max   int
	pub   Publisher
	log   *slog.Logger

	numbers  map[string]string
	lists    *quota.Rate
	maxTails int

	mu      sync.Mutex
	seq     uint64
	pending []pendingEntry
	visible []*loggingpb.LogEntry // in the order they became visible
	tails   map[*tail]struct{}

	wake      chan struct{}
	done      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

type pendingEntry struct {
	e   *loggingpb.LogEntry
	due time.Time
}

// New returns a running Service; call Close to stop its goroutine.
func New(cfg Config) *Service {
	s := &Service{
		delay:    cfg.IngestionDelay,
		max:      cfg.MaxEntries,
		pub:      cfg.Publisher,
		log:      cfg.Logger,
		tails:    map[*tail]struct{}{},
		numbers:  cfg.ProjectNumbers,
		lists:    quota.NewRate(listLimit(quota.OrDefault(cfg.ListsPerMinute, DefaultListsPerMinute)), cfg.Now),
		maxTails: quota.OrDefault(cfg.TailSessions, DefaultTailSessions),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	switch {
	case s.delay == 0:
		s.delay = DefaultIngestionDelay
	case s.delay < 0:
		s.delay = 0
	}
	if s.max <= 0 {
		s.max = DefaultMaxEntries
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	go s.promote()
	return s
}

// Register registers the service on a gRPC server.
func (s *Service) Register(g *grpc.Server) {
	loggingpb.RegisterLoggingServiceV2Server(g, s)
}

// Close stops the Service's goroutine. Entries still pending are dropped. Close is idempotent.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	<-s.stopped
}

// Ingest accepts entries as Cloud Logging's ingestion would: it takes ownership of them, sets timestamp and
// receiveTimestamp to now when missing and insertId (24 hex characters, the first 8 the Unix seconds of the
// timestamp) when empty. The entries become visible after the ingestion delay, in the order they were ingested.
func (s *Service) Ingest(entries ...*loggingpb.LogEntry) {
	if len(entries) == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	for _, e := range entries {
		if e.Timestamp == nil {
			e.Timestamp = timestamppb.New(now)
		}
		if e.ReceiveTimestamp == nil {
			e.ReceiveTimestamp = timestamppb.New(now)
		}
		if e.InsertId == "" {
			s.seq++
			e.InsertId = fmt.Sprintf("%08x%016x", uint32(e.Timestamp.GetSeconds()), s.seq)
		}
		s.pending = append(s.pending, pendingEntry{e: e, due: now.Add(s.delay)})
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// promote makes pending entries visible when they are due, then hands them to tails and the publisher.
func (s *Service) promote() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, next := s.takeDue(time.Now())
		if len(batch) > 0 && s.pub != nil {
			s.pub.Publish(batch)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// takeDue moves due entries to the visible list and the tails, and returns them with the next due time.
func (s *Service) takeDue(now time.Time) ([]*loggingpb.LogEntry, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.pending) && !s.pending[n].due.After(now) {
		n++
	}
	var batch []*loggingpb.LogEntry
	if n > 0 {
		batch = make([]*loggingpb.LogEntry, n)
		for i := range n {
			batch[i] = s.pending[i].e
		}
		s.pending = slices.Delete(s.pending, 0, n)
		s.visible = append(s.visible, batch...)
		if len(s.visible) > s.max+s.max/4 {
			s.visible = slices.Clone(s.visible[len(s.visible)-s.max:])
		}
		for t := range s.tails {
			t.offer(batch)
		}
	}
	var next time.Time
	if len(s.pending) > 0 {
		next = s.pending[0].due
	}
	return batch, next
}

// snapshot returns the visible entries; the slice must not be modified.
func (s *Service) snapshot() []*loggingpb.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.visible[:len(s.visible):len(s.visible)]
}

// entryKey orders entries by timestamp, then insertId.
type entryKey struct {
	t  time.Time
	id string
}

func keyOf(e *loggingpb.LogEntry) entryKey {
	return entryKey{t: e.GetTimestamp().AsTime(), id: e.GetInsertId()}
}

func (a entryKey) compare(b entryKey) int {
	if c := a.t.Compare(b.t); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// projectsOf turns resource names into the set of projects whose logs they name.
func projectsOf(names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("resource_names must name at least one resource, e.g. \"projects/my-project\"")
	}
	projects := map[string]bool{}
	for _, n := range names {
		parts := strings.Split(n, "/")
		if len(parts) < 2 || parts[1] == "" {
			return nil, fmt.Errorf("invalid resource name %q", n)
		}
		switch parts[0] {
		case "projects":
			projects[parts[1]] = true
		case "organizations", "folders", "billingAccounts":
			// valid, but gcpsim keeps only project logs
		default:
			return nil, fmt.Errorf("invalid resource name %q", n)
		}
	}
	return projects, nil
}

// projectOfLog returns P from projects/P/logs/ID.
func projectOfLog(logName string) string {
	rest, ok := strings.CutPrefix(logName, "projects/")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, "/")
	return p
}
