package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fixedToken string

func (f fixedToken) Token(context.Context) (string, error) { return string(f), nil }
func (fixedToken) Invalidate()                             {}

func TestFrontEndRefusalsBecomeDockerErrors(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"email":"alice@example.com","aud":"https://cp.example"}`))
	tok := fixedToken("eyJhbGciOiJSUzI1NiJ9." + payload + ".sig")
	tests := []struct {
		status int
		ctype  string
		want   []string // substrings of the message; nil = passed through untouched
	}{
		{403, "text/html; charset=UTF-8", []string{"(403)", "alice@example.com lacks roles/run.invoker", "team_members"}},
		{401, "text/html; charset=UTF-8", []string{"(401)", "alice@example.com could not be verified", `"https://cp.example"`}},
		{429, "text/html; charset=UTF-8", []string{"(429)", "no control plane instance was available"}},
		{413, "text/html; charset=UTF-8", []string{"(413)", "32 MiB", "--use-http2"}},
		{404, "text/html; charset=UTF-8", []string{"(404)", "reserved"}},
		{503, "text/html; charset=UTF-8", []string{"(503)", "could not be reached"}},
		{404, "application/json", nil}, // the control plane's own answer
		{200, "text/html", nil},
	}
	for _, tt := range tests {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tt.ctype)
			w.WriteHeader(tt.status)
			io.WriteString(w, "<html>page</html>")
		}))
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		c, err := New(srv.URL, "", tok)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", c.Target("/v1.50/containers/json", "").String(), nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			srv.Close()
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body) // before the server closes: its close may cut the body short
		srv.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
		}
		if tt.want == nil {
			if string(b) != "<html>page</html>" {
				t.Errorf("%d %s: body changed to %s", tt.status, tt.ctype, b)
			}
			continue
		}
		var m struct{ Message string }
		if err := json.Unmarshal(b, &m); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%d: not Docker's JSON error: %s", tt.status, b)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(m.Message, w) {
				t.Errorf("%d: message %q lacks %q", tt.status, m.Message, w)
			}
		}
	}
}
