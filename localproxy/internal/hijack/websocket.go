package hijack

import (
	"encoding/binary"
	"io"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/net/websocket"
)

var attachWSPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/attach/ws$`)

// MatchWebSocket reports whether r is Docker's WebSocket attach (GET /containers/{id}/attach/ws).
func MatchWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && attachWSPath.MatchString(r.URL.Path)
}

// ServeWebSocket serves Docker's WebSocket attach here, since Google's front end carries no WebSocket to a service
// speaking end-to-end HTTP/2: the connection's messages are the container's stdin, and its output — the same
// full-duplex attach request a hijacked attach becomes — goes out as binary messages, never multiplexed (as
// Docker's own WebSocket attach). The request's query (logs, stream, stdin, stdout, stderr, detachKeys) passes on.
func (h *Handler) ServeWebSocket(w http.ResponseWriter, r *http.Request) {
	up := r.Clone(r.Context())
	up.Method = http.MethodPost
	up.URL.Path = strings.TrimSuffix(r.URL.Path, "/ws")
	up.Header = http.Header{}
	srv := websocket.Server{
		// No Origin check: the socket is the user's own (a browser cannot reach it; the TCP listener's guard
		// refuses requests that carry an Origin).
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			if !h.track(ws) {
				ws.Close()
				return
			}
			defer h.untrack(ws)
			defer ws.Close()
			h.stream(up, ws, ws, nil, nil)
		},
	}
	srv.ServeHTTP(w, r)
}

// demux takes Docker's multiplexed stream apart (8-byte header: stream, 0, 0, 0, big-endian length) and writes
// each frame's payload to w, whatever the pieces the stream arrives in.
type demux struct {
	w    io.Writer
	hdr  [8]byte
	nhdr int
	left uint32
}

func (d *demux) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.left == 0 {
			c := copy(d.hdr[d.nhdr:], p)
			d.nhdr += c
			p = p[c:]
			if d.nhdr < len(d.hdr) {
				break
			}
			d.nhdr, d.left = 0, binary.BigEndian.Uint32(d.hdr[4:])
			continue
		}
		c := min(uint32(len(p)), d.left)
		if _, err := d.w.Write(p[:c]); err != nil {
			return n - len(p), err
		}
		d.left -= c
		p = p[c:]
	}
	return n, nil
}
