package status

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/localproxy/internal/upstream"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (s staticToken) Invalidate()                           {}

func jwt(email string) string {
	p, _ := json.Marshal(map[string]any{"email": email, "aud": "https://cp.test", "exp": time.Now().Add(time.Hour).Unix()})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(p) + ".c2ln"
}

func h2c(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestStatus(t *testing.T) {
	ok := h2c(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			w.Write([]byte(`{"Version":"runsock-0.1","ApiVersion":"1.50","Os":"linux","Arch":"amd64"}`))
		}
	})
	forbidden := h2c(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		w.Write([]byte(`{"message":"runsock: bob@x.test is not on this control plane's allow-list"}`))
	})
	unauth := h2c(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"runsock: identity token rejected: token expired"}`))
	})
	down := h2c(t, nil)
	down.Close()
	tests := []struct {
		name, url string
		wantErr   bool
		want      []string
	}{
		{name: "healthy", url: ok.URL, want: []string{"identity:       bob@x.test", "round trip:", "HTTP/2.0", "runsock-0.1 (API 1.50", "status:         OK", "localproxy:     v-test"}},
		{name: "not an invoker", url: forbidden.URL, wantErr: true, want: []string{"403 bob@x.test is not allowed", "not an invoker"}},
		{name: "rejected token", url: unauth.URL, wantErr: true, want: []string{"401", "token expired", "audience"}},
		{name: "wrong URL", url: down.URL, wantErr: true, want: []string{"cannot connect", "RUNSOCK_CONTROL_PLANE_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := upstream.New(tt.url, "", staticToken(jwt("bob@x.test")))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = Run(context.Background(), &out, Check{URL: tt.url, Up: up, Tokens: staticToken(jwt("bob@x.test")), Version: "v-test"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v\n%s", err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
