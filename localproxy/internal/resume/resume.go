package resume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// ErrCut is a stream that ended without its end frame and cannot be resumed.
var ErrCut = errors.New("the stream was cut (Cloud Run's request timeout) and cannot be resumed")

// Reissue sends the request again to resume the stream token names at pos ("" = from the token's start). The
// response must be 200 and framed; any other answer ends the stream.
type Reissue func(ctx context.Context, token, pos string) (*http.Response, error)

// Options tune Run.
type Options struct {
	// OnAck receives the control plane's stdin acknowledgements (bytes handed to the container).
	OnAck func(n int64)
	// Retry bounds the re-issues in a row that deliver nothing before giving up; 0 = 2 minutes.
	Retry time.Duration
	// Path names the stream in logs.
	Path string
	Log  *slog.Logger
}

// Run writes the client bytes of the framed body of resp to w (calling flush after each write, if set) until the
// end frame. When the body ends without it, Run re-issues the stream and continues. It returns nil at the natural
// end, the client's error when writing to it failed, ErrCut (wrapped) when the stream cannot be resumed.
func Run(ctx context.Context, w io.Writer, flush func() error, resp *http.Response, reissue Reissue, opts Options) error {
	if opts.Retry == 0 {
		opts.Retry = 2 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var st state
	backoff := 100 * time.Millisecond
	var gaveUp time.Time
	for {
		began := time.Now()
		progressed, clientErr, readErr := st.copy(w, flush, resp.Body, opts.OnAck)
		resp.Body.Close()
		switch {
		case clientErr != nil:
			return clientErr
		case st.ended:
			return nil
		case st.token == "":
			return fmt.Errorf("%w: %v", ErrCut, readErrOrEOF(readErr))
		}
		switch {
		case progressed:
			backoff, gaveUp = 100*time.Millisecond, time.Time{}
		case time.Since(began) < time.Second:
			// Ended at once with nothing delivered: not a timeout but a control plane failing; pace the retries.
			if gaveUp.IsZero() {
				gaveUp = time.Now().Add(opts.Retry)
			}
			if time.Now().After(gaveUp) {
				return fmt.Errorf("%w: %v", ErrCut, readErrOrEOF(readErr))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		opts.Log.Info("stream cut, resuming", "path", opts.Path, "pos", st.pos, "err", readErr)
		for {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			next, err := reissue(ctx, st.token, st.pos)
			if err == nil && next.StatusCode == http.StatusOK && next.Header.Get(proxyproto.Framed) == "1" {
				resp = next
				break
			}
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(next.Body, 4<<10))
				next.Body.Close()
				err = fmt.Errorf("control plane answered %d: %s", next.StatusCode, b)
				if next.StatusCode/100 == 4 && next.StatusCode != http.StatusTooManyRequests {
					return fmt.Errorf("%w: resuming: %v", ErrCut, err)
				}
			}
			if gaveUp.IsZero() {
				gaveUp = time.Now().Add(opts.Retry)
			}
			if time.Now().After(gaveUp) {
				return fmt.Errorf("%w: resuming: %v", ErrCut, err)
			}
			opts.Log.Warn("resuming stream", "path", opts.Path, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

func readErrOrEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// state is what a stream has delivered.
type state struct {
	token string // the stream's resume token ("" = not resumable)
	pos   string // the position after the last data delivered ("" = the token's start)
	ended bool
}

// copy delivers one framed body. progressed: something was delivered; clientErr: writing to the client failed;
// readErr: why the body ended without the end frame (nil: a clean EOF, i.e. a cut).
//
// Writes to the client are flushed once no further frame has already arrived, not after every frame: a log of many
// short lines is one frame per line, and a flush each (a write system call, and a read for the client) made
// `docker logs` of 200,000 lines take seconds. A line that is the last to have arrived is flushed at once, as before.
func (s *state) copy(w io.Writer, flush func() error, body io.Reader, onAck func(int64)) (progressed bool, clientErr, readErr error) {
	fr := proxyproto.NewReader(bufio.NewReaderSize(body, copyBuffer))
	unflushed := false
	flushIfIdle := func() error {
		if !unflushed || fr.Ready() {
			return nil
		}
		unflushed = false
		if flush == nil {
			return nil
		}
		return flush()
	}
	for {
		f, err := fr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if unflushed && flush != nil {
				if ferr := flush(); ferr != nil {
					return progressed, ferr, nil
				}
			}
			return progressed, nil, err
		}
		switch f.Kind {
		case proxyproto.KindToken:
			if s.token == "" { // a resumed stream repeats it; the first one names the stream
				s.token = string(f.Data)
			}
		case proxyproto.KindData, proxyproto.KindEnd:
			if len(f.Data) > 0 {
				if _, err := w.Write(f.Data); err != nil {
					return progressed, err, nil
				}
				unflushed, progressed = true, true
			}
			if f.Pos != "" {
				s.pos = f.Pos
			}
			if f.Kind == proxyproto.KindEnd {
				s.ended = true
				if unflushed && flush != nil {
					if err := flush(); err != nil {
						return progressed, err, nil
					}
				}
				return progressed, nil, nil
			}
		case proxyproto.KindStdinAck:
			if onAck != nil {
				var n int64
				if _, err := fmt.Sscan(f.Pos, &n); err == nil {
					onAck(n)
				}
			}
		}
		if err := flushIfIdle(); err != nil {
			return progressed, err, nil
		}
	}
}

// copyBuffer is how much of a framed body copy reads ahead: enough for a few thousand short log lines per flush.
const copyBuffer = 64 << 10
