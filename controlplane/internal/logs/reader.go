package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"time"

	logging "cloud.google.com/go/logging/apiv2"
	"cloud.google.com/go/logging/apiv2/loggingpb"
	"github.com/containerd/errdefs"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/runsock/runsock/controlplane/internal/googleconn"
	"github.com/runsock/runsock/controlplane/internal/googlequota"
)

// DefaultCompletionWait bounds how long a read of an ended execution waits for Cloud Logging to deliver its last
// lines (the closing system entry).
const DefaultCompletionWait = 30 * time.Second

// Config configures a Reader.
type Config struct {
	// Project holds the logs. Required.
	Project string
	// Endpoint overrides the Cloud Logging endpoint (host:port), e.g. gcpsim's "127.0.0.1:18090". "" = Google.
	Endpoint string
	// Insecure dials Endpoint without TLS and credentials (gcpsim).
	Insecure bool
	// CompletionWait: see DefaultCompletionWait (zero = default).
	CompletionWait time.Duration
	// ListsPerMinute is the entries.list quota to keep within (zero = DefaultListsPerMinute).
	ListsPerMinute int
	// QuotaRetryFor bounds the retries of a listing Cloud Logging refuses for its quota (zero = one minute).
	QuotaRetryFor time.Duration
	// ClientOptions are extra options for the Google client.
	ClientOptions []option.ClientOption
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Query says which output to read.
type Query struct {
	// Executions are the container's executions (full or short names), oldest first; at least one.
	Executions []string
	// Stdout and Stderr select the streams; at least one.
	Stdout, Stderr bool
	// Since and Until bound the lines' timestamps (zero = unbounded).
	Since, Until time.Time
	// Tail is how many lines to return from the end of the history (< 0 = all).
	Tail int
	// Follow keeps reading new lines until the last execution's output is complete (or ctx ends).
	Follow bool
	// Ended says the last execution has already ended: the read waits for its output to be complete.
	Ended bool
	// Done, if not nil, is closed when the last execution ends (follow mode).
	Done <-chan struct{}
}

// LogLine is one line of output.
type LogLine struct {
	Stream int // 1 stdout, 2 stderr
	Time   time.Time
	Data   []byte // the line with its trailing newline
}

// loggingAPI is the subset of *logging.Client the reader calls.
type loggingAPI interface {
	ListLogEntries(ctx context.Context, req *loggingpb.ListLogEntriesRequest, opts ...gax.CallOption) *logging.LogEntryIterator
	Close() error
}

// Reader reads containers' output from Cloud Logging. It is safe for concurrent use.
type Reader struct {
	api     loggingAPI
	project string
	wait    time.Duration
	log     *slog.Logger
	lists   *rate.Limiter
	retry   googlequota.Retrier

	ctx     context.Context // ends at Close; parent of the feeds
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	feedsMu sync.Mutex
	feeds   map[string]*feed // short execution ID → its shared poll
}

// New dials Cloud Logging.
func New(ctx context.Context, cfg Config) (*Reader, error) {
	if cfg.Project == "" {
		return nil, errors.New("logs: project is required")
	}
	opts := googleconn.ClientOptions() // after an outage of Cloud Logging, the first read goes through
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Insecure {
		opts = append(opts, option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := logging.NewClient(ctx, append(opts, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("logs: logging client: %w", err)
	}
	wait := cfg.CompletionWait
	if wait <= 0 {
		wait = DefaultCompletionWait
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	retryFor := cfg.QuotaRetryFor
	if retryFor <= 0 {
		retryFor = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Reader{api: c, project: cfg.Project, wait: wait, log: log, lists: newListLimiter(cfg.ListsPerMinute),
		retry: googlequota.Retrier{For: retryFor}, ctx: ctx, cancel: cancel, feeds: map[string]*feed{}}, nil
}

// Close stops the feeds and closes the client.
func (r *Reader) Close() error {
	r.feedsMu.Lock()
	r.cancel()
	r.feedsMu.Unlock()
	r.wg.Wait()
	return r.api.Close()
}

// Read yields the output q selects, oldest first. A non-nil error ends the sequence.
func (r *Reader) Read(ctx context.Context, q Query) iter.Seq2[LogLine, error] {
	return func(yield func(LogLine, error) bool) {
		if len(q.Executions) == 0 || (!q.Stdout && !q.Stderr) {
			return
		}
		if q.Follow && !q.Ended && !closed(q.Done) {
			r.follow(ctx, q, yield)
			return
		}
		if q.Ended || closed(q.Done) {
			if err := r.awaitExit(ctx, q); err != nil {
				yield(LogLine{}, err)
				return
			}
		}
		// No deduplication: one listing returns each entry once, and remembering insertIds would grow with the
		// history (to the dedupe's bound) for nothing.
		if _, err := r.history(ctx, q, nil, yield); err != nil {
			yield(LogLine{}, err)
		}
	}
}

func closed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// awaitExit waits until the last execution's exit entry is visible or the completion wait passes: one listing of
// its system entries, then the execution's shared feed.
func (r *Reader) awaitExit(ctx context.Context, q Query) error {
	exec := q.Executions[len(q.Executions)-1]
	sub, unsubscribe := r.subscribe(exec) // before the listing, so nothing falls in between
	defer unsubscribe()
	system := func() ([]*loggingpb.LogEntry, error) {
		entries, err := r.list(ctx, &loggingpb.ListLogEntriesRequest{
			ResourceNames: []string{"projects/" + r.project}, Filter: systemFilter(r.project, q),
			OrderBy: "timestamp desc", PageSize: 20,
		}, 20)
		if err != nil {
			return nil, translate(err)
		}
		return entries, nil
	}
	entries, err := system()
	if err != nil {
		return err
	}
	deadline := time.NewTimer(r.wait)
	defer deadline.Stop()
	for {
		for _, e := range entries {
			if isExit(r.project, e, exec) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			r.log.WarnContext(ctx, "log completion wait expired", "execution", exec)
			return nil
		case <-sub.signal:
		}
		entries, err = sub.take()
		if errors.Is(err, errBehind) { // what was dropped may have held the exit: look again
			entries, err = system()
		}
		if err != nil {
			return err
		}
	}
}

// history yields the lines already stored (the last q.Tail of them if q.Tail >= 0) that were not seen, page by
// page: whatever the length of the history, it holds a page. It returns whether the exit entry of the last
// execution was among the entries, and false from yield as errStop.
func (r *Reader) history(ctx context.Context, q Query, seen *dedupe, yield func(LogLine, error) bool) (bool, error) {
	last := q.Executions[len(q.Executions)-1]
	sawExit := false
	emit := func(e *loggingpb.LogEntry) error {
		if isExit(r.project, e, last) {
			sawExit = true
		}
		if !r.emit(e, seen, yield) {
			return errStop
		}
		return nil
	}
	var err error
	switch {
	case q.Tail == 0:
		return false, nil
	case q.Tail > 0:
		err = r.tail(ctx, q, emit)
	default:
		err = r.each(ctx, r.listing(q, q.Follow, "timestamp asc", pageSize), emit)
	}
	if err != nil && !errors.Is(err, errStop) {
		err = translate(err)
	}
	return sawExit, err
}

// listing is the entries.list request for q's output (and, withSystem, the system entries that mark completeness).
func (r *Reader) listing(q Query, withSystem bool, order string, size int) *loggingpb.ListLogEntriesRequest {
	return &loggingpb.ListLogEntriesRequest{ResourceNames: []string{"projects/" + r.project},
		Filter: outputFilter(r.project, q, withSystem), OrderBy: order, PageSize: int32(size)}
}

// maxTies bounds the lines remembered at the timestamp where a long tail begins; past it, a tail may begin with a
// few more lines of that same instant than asked.
const maxTies = 1 << 14

// tail hands fn the last q.Tail output lines, oldest first, holding at most a page. A tail of a page or less is
// one page listed newest first, reversed. A longer one is found by counting back, newest first and keeping
// nothing, to the line where it begins, then listed oldest first from there: twice the requests, the memory of a
// page.
func (r *Reader) tail(ctx context.Context, q Query, fn func(*loggingpb.LogEntry) error) error {
	if q.Tail <= pageSize {
		entries, err := r.list(ctx, r.listing(q, false, "timestamp desc", q.Tail), q.Tail)
		if err != nil {
			return err
		}
		slices.Reverse(entries)
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	var begin time.Time       // the timestamp of the oldest line of the tail
	ties := map[string]bool{} // the tail's lines at begin
	n := 0
	err := r.each(ctx, r.listing(q, false, "timestamp desc", pageSize), func(e *loggingpb.LogEntry) error {
		if ts := e.GetTimestamp().AsTime(); !ts.Equal(begin) {
			begin, ties = ts, map[string]bool{}
		}
		if len(ties) < maxTies {
			ties[e.GetInsertId()] = true
		}
		if n++; n == q.Tail {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	from := q
	if n == q.Tail {
		from.Since = begin
	}
	n = 0
	err = r.each(ctx, r.listing(from, false, "timestamp asc", pageSize), func(e *loggingpb.LogEntry) error {
		if e.GetTimestamp().AsTime().Equal(begin) && len(ties) < maxTies && !ties[e.GetInsertId()] {
			return nil // of the instant the tail begins, but before it
		}
		if err := fn(e); err != nil {
			return err
		}
		if n++; n == q.Tail {
			return errStop // lines that arrived since the count are the follow's
		}
		return nil
	})
	if errors.Is(err, errStop) && n == q.Tail {
		return nil
	}
	return err
}

// errStop reports that the consumer stopped the iteration.
var errStop = errors.New("logs: iteration stopped")

// emit yields e if it is a new output line (every one when seen is nil); it returns false when the consumer
// stopped.
func (r *Reader) emit(e *loggingpb.LogEntry, seen *dedupe, yield func(LogLine, error) bool) bool {
	stream := streamOf(r.project, e)
	if stream == 0 || (seen != nil && !seen.first(e.GetInsertId())) {
		return true
	}
	return yield(LogLine{Stream: stream, Time: e.GetTimestamp().AsTime(), Data: payload(e)}, nil)
}

// payload is the line as the process wrote it, with its newline. A structured (JSON) line comes back re-encoded.
func payload(e *loggingpb.LogEntry) []byte {
	var s string
	switch p := e.GetPayload().(type) {
	case *loggingpb.LogEntry_TextPayload:
		s = p.TextPayload
	case *loggingpb.LogEntry_JsonPayload:
		b, err := protojson.Marshal(p.JsonPayload)
		if err == nil {
			s = string(b)
		}
	}
	if len(s) == 0 || s[len(s)-1] != '\n' {
		s += "\n"
	}
	return []byte(s)
}

// translate maps a Cloud Logging error onto an errdefs kind; a quota refusal names the quota.
func translate(err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument:
		return fmt.Errorf("reading logs: %s: %w", status.Convert(err).Message(), errdefs.ErrInvalidArgument)
	case codes.ResourceExhausted:
		return fmt.Errorf("%s: %w", googlequota.Describe(err, "reading logs", "Cloud Logging", ""), errdefs.ErrResourceExhausted)
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("reading logs: Cloud Logging is unavailable: %s: %w", status.Convert(err).Message(), errdefs.ErrUnavailable)
	case codes.PermissionDenied:
		return fmt.Errorf("reading logs: %s: %w", status.Convert(err).Message(), errdefs.ErrPermissionDenied)
	}
	return fmt.Errorf("reading logs: %w", err)
}
