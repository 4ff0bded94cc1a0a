package binds

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unreachable is a control plane that must not be called: the cases below are decided on the laptop.
type unreachable struct{ t *testing.T }

func (u unreachable) RoundTrip(r *http.Request) (*http.Response, error) {
	u.t.Errorf("unexpected request to the control plane: %s %s", r.Method, r.URL)
	return nil, errors.New("unreachable")
}

func (unreachable) Target(path, q string) *url.URL {
	return &url.URL{Scheme: "http", Host: "cp.invalid", Path: path, RawQuery: q}
}

func TestPrepareSocketsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.MkdirAll(big, 0o755)
	os.WriteFile(filepath.Join(big, "f"), make([]byte, 2<<20), 0o644)
	own := filepath.Join(dir, "docker.sock")
	m := New(unreachable{t}, Config{Socket: own, Limit: 1 << 20}, nil)
	defer m.Close()

	for _, tc := range []struct {
		name, body string
		wantBody   string // "" = unchanged
		wantErr    string
	}{
		{name: "own socket, -v", body: `{"HostConfig":{"Binds":["` + own + `:/var/run/docker.sock"]}}`,
			wantBody: `{"HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock"]}}`},
		{name: "own socket, --mount", body: `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + own + `","Target":"/s"}]}}`,
			wantBody: `{"HostConfig":{"Mounts":[{"Source":"/var/run/docker.sock","Target":"/s","Type":"bind"}]}}`},
		{name: "well-known sockets pass", body: `{"HostConfig":{"Binds":["/var/run/docker.sock:/a","/run/docker.sock:/b:ro"]}}`},
		{name: "named volume", body: `{"HostConfig":{"Binds":["data:/data"]}}`},
		{name: "--mount missing source", body: `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + dir + `/nope","Target":"/s"}]}}`,
			wantErr: `invalid mount config for type "bind": bind source path does not exist: ` + dir + `/nope`},
		{name: "over the limit", body: `{"HostConfig":{"Binds":["` + big + `:/b"]}}`,
			wantErr: "bind source " + big + " holds 2 MiB of files, more than the 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, header, p, err := m.Prepare(context.Background(), "", []byte(tc.body))
			if tc.wantErr != "" {
				var be *Error
				if !errors.As(err, &be) || be.Status != http.StatusBadRequest || !strings.Contains(be.Msg, tc.wantErr) {
					t.Fatalf("err = %v, want a 400 with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || header != "" || p != nil {
				t.Fatalf("Prepare: %v, header %q, pending %v", err, header, p)
			}
			want := tc.wantBody
			if want == "" {
				want = tc.body
			}
			var got, exp any
			json.Unmarshal(out, &got)
			json.Unmarshal([]byte(want), &exp)
			g, _ := json.Marshal(got)
			e, _ := json.Marshal(exp)
			if string(g) != string(e) {
				t.Fatalf("body = %s, want %s", g, e)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("--mount created its missing source")
	}
}
