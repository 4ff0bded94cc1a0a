package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/proxyproto"
)

// notFoundContainer answers a resume whose container is gone or whose name now names another container.
func notFoundContainer(ref string) error {
	return &errkind.Error{Msg: "No such container: " + ref, Kind: errdefs.ErrNotFound}
}

// This file makes long streams (logs, wait, attach) survive Cloud Run's request timeout, which ends a streamed
// response as if it were complete: for a client that asks (localproxy), the body is framed (package proxyproto) so
// that a natural end is explicit, a resume token opens the stream and every data frame says where it leaves the
// stream. localproxy re-issues a cut stream with the token and the last position it delivered; the handlers here
// continue it from there, nothing lost and nothing repeated.

// resumable reports whether the client asked for a framed body, and says on the response that it gets one.
func resumable(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get(proxyproto.Resumable) != "1" {
		return false
	}
	w.Header().Set(proxyproto.Framed, "1")
	return true
}

// resumeToken returns the token of the stream being resumed (nil when this is a new one), checked to be of kind.
func resumeToken(r *http.Request, kind string) (url.Values, error) {
	raw := r.Header.Get(proxyproto.ResumeHeader)
	if raw == "" {
		return nil, nil
	}
	v, err := url.ParseQuery(raw)
	if err != nil || v.Get("k") != kind || v.Get("id") == "" {
		return nil, invalid("invalid %s for %s: %q", proxyproto.ResumeHeader, kind, raw)
	}
	return v, nil
}

// tokenUint reads a number from a token or the position header (which, when present, wins).
func tokenUint(r *http.Request, tok url.Values, key string, positioned bool) (uint64, error) {
	raw := tok.Get(key)
	if positioned {
		if p := r.Header.Get(proxyproto.ResumePositionHeader); p != "" {
			raw = p
		}
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, invalid("invalid resume position %q", raw)
	}
	return n, nil
}

func tokenTime(tok url.Values, key string) (time.Time, error) {
	raw := tok.Get(key)
	if raw == "" {
		return time.Time{}, nil
	}
	ns, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, invalid("invalid resume time %q", raw)
	}
	return time.Unix(0, ns), nil
}

func setTime(v url.Values, key string, t time.Time) {
	if !t.IsZero() {
		v.Set(key, strconv.FormatInt(t.UnixNano(), 10))
	}
}

// logsToken pins everything a re-issued logs request must not re-decide: the container, since and until as
// instants (a relative since would move), and where the output began (a tail would move).
func logsToken(id string, since, until time.Time, start containers.LogPosition) string {
	v := url.Values{"k": {"logs"}, "id": {id}, "seq": {strconv.FormatUint(start.Seq, 10)}}
	if start.Offset > 0 {
		v.Set("off", strconv.Itoa(start.Offset))
	}
	setTime(v, "since", since)
	setTime(v, "until", until)
	return v.Encode()
}

// applyLogsToken makes opts continue the logs stream tok began.
func applyLogsToken(r *http.Request, tok url.Values, opts *containers.LogOptions) error {
	var err error
	if opts.Since, err = tokenTime(tok, "since"); err != nil {
		return err
	}
	if opts.Until, err = tokenTime(tok, "until"); err != nil {
		return err
	}
	from := &containers.LogPosition{}
	if p := r.Header.Get(proxyproto.ResumePositionHeader); p != "" {
		// The position after the last entry delivered: "SEQ", or "SEQ.OFFSET" when it ended inside chunk SEQ.
		seq, off, hasOff := strings.Cut(p, ".")
		if from.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
			return invalid("invalid resume position %q", p)
		}
		if hasOff {
			if from.Offset, err = strconv.Atoi(off); err != nil || from.Offset < 0 {
				return invalid("invalid resume position %q", p)
			}
		}
	} else {
		if from.Seq, err = tokenUint(r, tok, "seq", false); err != nil {
			return err
		}
		off, _ := strconv.Atoi(tok.Get("off"))
		from.Offset = max(off, 0)
	}
	opts.From = from
	return nil
}

// waitToken names the wait: the container and when the wait began.
func waitToken(cur containers.WaitCursor) string {
	v := url.Values{"k": {"wait"}, "id": {cur.ID}}
	setTime(v, "since", cur.Since)
	return v.Encode()
}

// attachToken names an attach: the container, the output cursor where it began and its stdin session.
func attachToken(id string, cur agentsessions.AttachCursor, stdin string) string {
	v := url.Values{"k": {"attach"}, "id": {id}, "seq": {strconv.FormatUint(cur.Next, 10)}}
	if cur.SkipRun != "" {
		v.Set("skip", cur.SkipRun)
	}
	if stdin != "" {
		v.Set("in", stdin)
	}
	return v.Encode()
}

// stdinSessions remember, per resumable attach with stdin, how many stdin bytes have been handed to the container,
// so that a resumed attach drops what localproxy sends again. In memory: the control plane runs as one instance,
// and a session lost with it costs at most the bytes in flight at the cut.
type stdinSessions struct {
	mu sync.Mutex
	m  map[string]*stdinSession
}

// stdinIdle is how long a session is kept after its last stream ended.
const stdinIdle = 2 * time.Hour

type stdinSession struct {
	busy chan struct{} // held by the stream reading this session's stdin

	mu     sync.Mutex
	handed int64 // stdin bytes handed on to the container
	ended  time.Time
	stop   context.CancelFunc // ends the stream holding busy
}

// open returns the session id (a new one when id is "") and takes it for one stream: a stream still holding it (the
// cut one, if the control plane has not noticed the cut yet) is stopped, and open waits until it has let go. The
// holder calls held with what stops it, and release when it ends.
func (s *stdinSessions) open(ctx context.Context, id string) (string, *stdinSession, error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*stdinSession{}
	}
	now := time.Now()
	for k, v := range s.m {
		v.mu.Lock()
		idle := !v.ended.IsZero() && now.Sub(v.ended) > stdinIdle
		v.mu.Unlock()
		if idle {
			delete(s.m, k)
		}
	}
	if id == "" {
		b := make([]byte, 16)
		rand.Read(b)
		id = hex.EncodeToString(b)
	}
	sess := s.m[id]
	if sess == nil {
		sess = &stdinSession{busy: make(chan struct{}, 1)}
		s.m[id] = sess
	}
	s.mu.Unlock()
	sess.mu.Lock()
	if sess.stop != nil {
		sess.stop()
	}
	sess.mu.Unlock()
	select {
	case sess.busy <- struct{}{}:
		return id, sess, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}

// held records how to stop the stream that now holds the session.
func (sess *stdinSession) held(stop context.CancelFunc) {
	sess.mu.Lock()
	sess.stop = stop
	sess.mu.Unlock()
}

func (sess *stdinSession) release() {
	sess.mu.Lock()
	sess.ended, sess.stop = time.Now(), nil
	sess.mu.Unlock()
	<-sess.busy
}

// stdinReader is a resumable attach's stdin: it drops the bytes of its body already handed on by an earlier stream
// of the session, and counts (and acknowledges) the bytes handed on. A byte counts as handed on when the reader
// is asked for more after returning it: the agent link's copier reads again only after it has sent what it read.
type stdinReader struct {
	r       io.Reader
	sess    *stdinSession
	skip    int64
	pending int
	ack     func(handed int64)
}

// newStdinReader reads body, whose first byte is stdin byte at of the session.
func newStdinReader(body io.Reader, sess *stdinSession, at int64, ack func(int64)) *stdinReader {
	sess.mu.Lock()
	if sess.handed < at { // a session this instance does not know (it restarted): trust the client
		sess.handed = at
	}
	skip := sess.handed - at
	sess.mu.Unlock()
	return &stdinReader{r: body, sess: sess, skip: skip, ack: ack}
}

func (s *stdinReader) Read(p []byte) (int, error) {
	if s.pending > 0 {
		s.sess.mu.Lock()
		s.sess.handed += int64(s.pending)
		handed := s.sess.handed
		s.sess.mu.Unlock()
		s.pending = 0
		s.ack(handed)
	}
	for s.skip > 0 {
		n, err := s.r.Read(p[:min(int64(len(p)), s.skip)])
		s.skip -= int64(n)
		if err != nil {
			return 0, err
		}
	}
	n, err := s.r.Read(p)
	s.pending = n
	return n, err
}
