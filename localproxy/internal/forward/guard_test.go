package forward

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGuardLoopback(t *testing.T) {
	reached := false
	h := GuardLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	for _, tc := range []struct {
		name, host, origin string
		want               int
	}{
		{name: "docker CLI over tcp", host: "127.0.0.1:2375", want: 200},
		{name: "localhost", host: "localhost:2375", want: 200},
		{name: "ipv6 loopback", host: "[::1]:2375", want: 200},
		{name: "rebound host name", host: "attacker.example:2375", want: 403},
		{name: "lan address", host: "192.168.1.4:2375", want: 403},
		{name: "web page", host: "127.0.0.1:2375", origin: "https://attacker.example", want: 403},
		{name: "null origin", host: "127.0.0.1:2375", origin: "null", want: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest("POST", "/containers/create", nil)
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want || reached != (tc.want == 200) {
				t.Fatalf("status %d, forwarded %v; want %d", w.Code, reached, tc.want)
			}
		})
	}
}
