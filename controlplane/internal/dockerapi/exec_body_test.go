package dockerapi

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/proxyproto"
)

// Over HTTP/2 localproxy sends the exec-start JSON and then stdin in one body; the JSON is split off by its length
// and every byte after it stays stdin.
func TestDecodeStartBodySplitsJSONFromStdin(t *testing.T) {
	json := `{"Detach":false,"Tty":true}`
	cases := []struct {
		name, offset, body string
		wantTty            bool
		wantStdin          string
		wantErr            error
	}{
		{"json then stdin", "27", json + "echo hi\n", true, "echo hi\n", nil},
		{"stdin that looks like JSON", "27", json + `{"Tty":false}`, true, `{"Tty":false}`, nil},
		{"no JSON (attach)", "0", "typed", false, "typed", nil},
		{"body shorter than offset", "99", json, false, "", errdefs.ErrInvalidArgument},
		{"bad offset", "-1", json, false, "", errdefs.ErrInvalidArgument},
		{"http/1.1 body", "", json, true, "", nil},
		{"http/1.1 body with more after the JSON", "", json + "x", false, "", errdefs.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/exec/x/start", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			if c.offset != "" {
				r.Header.Set(proxyproto.StdinOffsetHeader, c.offset)
			}
			var req container.ExecStartRequest
			err := decodeStartBody(r, &req)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(r.Body)
			if req.Tty != c.wantTty || string(rest) != c.wantStdin {
				t.Fatalf("Tty=%v stdin=%q, want %v %q", req.Tty, rest, c.wantTty, c.wantStdin)
			}
		})
	}
}

// Without the offset header the body is only JSON, read within maxStartBody even over HTTP/2 (where the route's body
// is otherwise an unbounded stream): a longer one is a 413, not a read of everything the client sends.
func TestDecodeStartBodyBoundsTheJSONBeforeStdin(t *testing.T) {
	long := `{"Tty":true,"Env":["` + strings.Repeat("x", maxStartBody) + `"]}`
	r := httptest.NewRequest("POST", "/exec/x/start", strings.NewReader(long))
	r.ProtoMajor, r.ProtoMinor = 2, 0
	r.Header.Set("Content-Type", "application/json")
	var req container.ExecStartRequest
	err := decodeStartBody(r, &req)
	if statusOf(err) != 413 {
		t.Fatalf("err = %v (status %d), want 413", err, statusOf(err))
	}
}
