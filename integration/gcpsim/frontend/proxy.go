package frontend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// hopHeaders are not forwarded in either direction.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, k := range strings.Split(f, ",") {
			if k = strings.TrimSpace(k); k != "" {
				h.Del(k)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// proxy sends an admitted request to the service and streams the answer back. The request timeout cuts it: before
// the response has started the client gets Google's 504; after, the response simply ends, as a clean end of stream
// (END_STREAM on HTTP/2 with no trailers; the terminating chunk on HTTP/1), which a client cannot tell from a normal
// end (fact 2.2).
func (f *Frontend) proxy(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.RequestTimeout)
	defer cancel()
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = f.backend.Scheme, f.backend.Host
	out.Close = false
	trailers := headerHasToken(r.Header, "Te", "trailers")
	removeHop(out.Header)
	if trailers {
		out.Header.Set("Te", "trailers") // gRPC needs it end to end
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	f.addHeaders(out, r)
	// An HTTP/1 client's body is read while the answer streams (docker attach and exec send stdin that way).
	_ = http.NewResponseController(w).EnableFullDuplex()

	resp, err := f.rt.RoundTrip(out)
	if err != nil {
		var ref refusal
		cr, capped := r.Body.(*capReader)
		switch {
		case r.Context().Err() != nil:
			return // the client went away
		case errors.Is(err, errTooLarge) || (capped && cr.over):
			ref = refuseTooLarge
		case ctx.Err() != nil:
			ref = refuseTimeout
		default:
			ref = refuseUnreachable
		}
		f.log.Warn(ref.log, "method", r.Method, "path", r.URL.Path, "status", ref.status, "err", err)
		ref.write(w, r.URL.Path)
		return
	}
	defer resp.Body.Close()
	removeHop(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	if len(resp.Header.Values("Set-Cookie")) > 0 && h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private") // fact 1.4.10
	}
	w.WriteHeader(resp.StatusCode)
	// The status goes out now: a full-duplex answer (attach, exec) starts before the client's body ends. Not for an
	// answer without a body, so a gRPC trailers-only answer stays one HEADERS frame with END_STREAM.
	if resp.ContentLength != 0 {
		_ = http.NewResponseController(w).Flush()
	}
	if err := copyFlushing(w, resp.Body); err != nil {
		switch {
		case r.Context().Err() != nil:
		case ctx.Err() != nil:
			// The request timeout: end the response cleanly, without the trailers the service had not sent yet.
			f.log.Warn("Truncated response body. Usually implies that the request timed out or the application "+
				"exited before the response was finished.", "method", r.Method, "path", r.URL.Path, "status", resp.StatusCode)
			return
		default:
			// The instance broke the stream (crash, kill): the client sees the stream reset, not a clean end.
			f.log.Warn("response from the instance broke off", "method", r.Method, "path", r.URL.Path, "err", err)
			panic(http.ErrAbortHandler)
		}
		return
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// addHeaders sets the headers Cloud Run adds (fact 1.4.5). The client's own trace context is kept.
func (f *Frontend) addHeaders(out, in *http.Request) {
	client, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		client = in.RemoteAddr
	}
	if prior := in.Header.Get("X-Forwarded-For"); prior != "" {
		client = prior + ", " + client
	}
	out.Header.Set("X-Forwarded-For", client)
	out.Header.Set("X-Forwarded-Proto", "https")
	if in.TLS == nil {
		out.Header.Set("X-Forwarded-Proto", "http")
	}
	if out.Header.Get("X-Cloud-Trace-Context") == "" || out.Header.Get("Traceparent") == "" {
		trace, span := newTraceIDs()
		if out.Header.Get("X-Cloud-Trace-Context") == "" {
			out.Header.Set("X-Cloud-Trace-Context", fmt.Sprintf("%s/%d;o=0", trace, span))
		}
		if out.Header.Get("Traceparent") == "" {
			out.Header.Set("Traceparent", fmt.Sprintf("00-%s-%016x-00", trace, span))
		}
	}
}

// copyFlushing copies the service's answer, flushing every read so streams stay live.
func copyFlushing(w http.ResponseWriter, body io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 64<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
