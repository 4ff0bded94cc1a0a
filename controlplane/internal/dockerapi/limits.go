package dockerapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/docker/go-units"
)

// What a request may carry. Docker's own API server sets no bound on JSON bodies or queries; runsock's come from
// what the input can become, so that anything larger is refused at the door (413 or 400, saying so) instead of
// being held in memory or failing half-way.
const (
	// maxJSONBody bounds a JSON body (create, exec create, exec start). What a body becomes is stored in one
	// Firestore document (a container's or an exec's record), which Firestore refuses over 1 MiB; the record
	// also holds the image's config and the state, and re-encoding can grow the body, so half of that.
	maxJSONBody = 512 << 10
	// maxStartBody bounds the JSON of an exec start over HTTP/2, where the route's body is a stream: before stdin
	// (localproxy's StdinOffsetHeader) or alone. The same as localproxy's own cap.
	maxStartBody = 1 << 20
	// maxQuery bounds a request's query string (filters included). Docker's clients send a few hundred bytes; Go's
	// server would take up to a megabyte of header.
	maxQuery = 64 << 10
)

// bodyKind says what a route's request body is, and so how it is bounded.
type bodyKind int

const (
	// jsonBody: JSON (or nothing), at most maxJSONBody.
	jsonBody bodyKind = iota
	// duplexBody: over HTTP/1.1 JSON as jsonBody (the stream runs on the hijacked connection); over HTTP/2 the
	// body is the stream itself (stdin, a tunnelled connection), unbounded, never held whole: the handler bounds
	// the JSON before it.
	duplexBody
	// archiveBody: a tar streamed into a container, never held whole, at most what the largest container can
	// hold (Info.MaxMemory: a Cloud Run container's files live in its memory); unbounded when that is not set.
	archiveBody
	// ignoredBody: a route anyone may call (ping) reads no body and buffers none; what is sent is the server's to
	// discard (a little; more closes the connection).
	ignoredBody
)

// bodyLimit is the most r's body may carry (0 = unbounded).
func (h *Handler) bodyLimit(kind bodyKind, r *http.Request) int64 {
	switch kind {
	case duplexBody:
		if r.ProtoMajor >= 2 {
			return 0
		}
	case archiveBody:
		return max(h.info.MaxMemory, 0)
	case ignoredBody:
		return 0
	}
	return maxJSONBody
}

// tooLargeError is a request body over its route's bound: 413, the one status no errdefs kind stands for.
type tooLargeError struct {
	limit int64
	kind  bodyKind
}

func (e *tooLargeError) Error() string {
	msg := "request body too large: runsock accepts at most " + units.BytesSize(float64(e.limit)) + " here"
	if e.kind == archiveBody {
		msg += ", the most memory a container may have (a Cloud Run container's files live in its memory)"
	}
	return msg
}

// checkSizes refuses a query or a declared body over its bound, and bounds the body to limit (0 = unbounded). A
// JSON body is read whole here, before the handler runs: most handlers ignore their body, and an HTTP/1.1 server
// notices a client going away only once the body has been read, so a stream such as /events would otherwise outlive
// its client. The returned body (an archive's) reports whether the handler went past the bound.
func checkSizes(w http.ResponseWriter, r *http.Request, kind bodyKind, limit int64) (*boundedBody, error) {
	if n := len(r.URL.RawQuery); n > maxQuery {
		return nil, invalid("the query string is %s, more than the %s runsock accepts", units.BytesSize(float64(n)), units.BytesSize(maxQuery))
	}
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &tooLargeError{limit: limit, kind: kind}
	}
	b := &boundedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
	if kind == archiveBody {
		r.Body = b
		return b, nil
	}
	whole, err := io.ReadAll(b)
	if err != nil {
		if b.over {
			return nil, &tooLargeError{limit: limit, kind: kind}
		}
		return nil, invalid("reading the request body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(whole))
	return nil, nil
}

// boundedBody remembers that a read went past the bound, so that the handler's error — however the domain wrapped
// the failed read — is answered as the 413 it is.
type boundedBody struct {
	io.ReadCloser
	over bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.over = true
	}
	return n, err
}

// exceeded returns the 413 for an archive read past its bound, or err.
func (b *boundedBody) exceeded(limit int64, err error) error {
	if b != nil && b.over && err != nil {
		return &tooLargeError{limit: limit, kind: archiveBody}
	}
	return err
}

// limitReader is http.MaxBytesReader for a body that stays in use after its bounded start (the JSON before stdin).
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func newLimitReader(r io.Reader, limit int64) *limitReader {
	return &limitReader{r: r, left: limit, limit: limit}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &http.MaxBytesError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) <= l.left {
		l.left -= int64(n)
		return n, err
	}
	n, l.left = int(l.left), -1
	return n, &http.MaxBytesError{Limit: l.limit}
}

// checkJSONType refuses a body that does not say it is JSON, as Docker's httputils.CheckForJSON does.
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return invalid("malformed Content-Type header (%s): %v", ct, err)
	}
	if mt != "application/json" {
		return invalid("unsupported Content-Type header (%s): must be 'application/json'", ct)
	}
	return nil
}

// jsonError is the answer to a body that failed to decode: a 413 past the bound, else Docker's 400.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &tooLargeError{limit: mbe.Limit}
	}
	return invalid("invalid JSON: %v", err)
}
