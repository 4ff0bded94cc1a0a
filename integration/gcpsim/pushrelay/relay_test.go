package pushrelay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRelayAttachesPushToken(t *testing.T) {
	var got *http.Request
	var body string
	status := http.StatusNoContent
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		w.WriteHeader(status)
	}))
	defer target.Close()
	rl, err := New(Config{Target: target.URL, ServiceAccount: "pusher@p.iam.gserviceaccount.com",
		Token: func(email, aud string) (string, error) { return "tok:" + email + ":" + aud, nil }})
	if err != nil {
		t.Fatal(err)
	}
	relay := httptest.NewServer(rl)
	defer relay.Close()
	for _, want := range []int{http.StatusNoContent, http.StatusInternalServerError} {
		status = want
		resp, err := http.Post(relay.URL+"/projects/p/topics/t?x=1", "application/json", strings.NewReader(`{"message":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("status %d, want the endpoint's %d", resp.StatusCode, want)
		}
		if a := got.Header.Get("Authorization"); a != "Bearer tok:pusher@p.iam.gserviceaccount.com:"+target.URL {
			t.Errorf("Authorization = %q", a)
		}
		if got.URL.Path != "/projects/p/topics/t" || got.URL.RawQuery != "x=1" || body != `{"message":{}}` {
			t.Errorf("forwarded %s?%s %q", got.URL.Path, got.URL.RawQuery, body)
		}
	}
}
