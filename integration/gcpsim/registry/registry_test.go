package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
)

const (
	project = "runsock-dev"
	cpSA    = "runsock-cp@runsock-dev.iam.gserviceaccount.com"
	jobsSA  = "runsock-jobs@runsock-dev.iam.gserviceaccount.com"
	admin   = "admin@runsock.dev"
	nobody  = "nobody@runsock.dev"
)

// devBindings mirror infra/iam.tf, as scripts/dev passes them.
var devBindings = []Binding{
	{"runsock", "roles/artifactregistry.reader", "serviceAccount:" + cpSA},
	{"dockerhub", "roles/artifactregistry.reader", "serviceAccount:" + cpSA},
	{"runsock-agent", "roles/artifactregistry.writer", "serviceAccount:" + cpSA},
	{"runsock-agent", "roles/artifactregistry.reader", "serviceAccount:" + jobsSA},
	{"runsock", "roles/artifactregistry.writer", "user:" + admin},
}

type fixture struct {
	host     string // the registry's host:port
	upstream string // the Docker Hub stand-in's host:port
	tokens   *accesstoken.Issuer
	now      time.Time
}

func newFixture(t *testing.T, dir string, bindings ...Binding) *fixture {
	t.Helper()
	f := &fixture{now: time.Now()}
	var err error
	if f.tokens, err = accesstoken.New("", func() time.Time { return f.now }); err != nil {
		t.Fatal(err)
	}
	up, err := NewUpstream("", nil)
	if err != nil {
		t.Fatal(err)
	}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	f.upstream = strings.TrimPrefix(upSrv.URL, "http://")
	reg, err := New(Config{
		Dir: dir, Project: project, Location: "us-central1",
		Repositories: []string{"runsock", "runsock-agent"}, RemoteRepositories: []string{"dockerhub"},
		Upstream: f.upstream, Bindings: append(append([]Binding{}, devBindings...), bindings...),
		VerifyAccessToken: func(tok string) (string, time.Time, error) {
			t, err := f.tokens.Verify(tok)
			return t.Email, t.Expires, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")
	return f
}

// as is the go-containerregistry option of a caller holding email's access token, sent as user (Basic).
func (f *fixture) as(t *testing.T, user, email string) remote.Option {
	t.Helper()
	tok, err := f.tokens.Mint(email)
	if err != nil {
		t.Fatal(err)
	}
	return remote.WithAuth(&authn.Basic{Username: user, Password: tok.Value})
}

func (f *fixture) tag(t *testing.T, path string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(f.host+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestChallenges(t *testing.T) {
	f := newFixture(t, "")
	resp := get(t, "http://"+f.host+"/v2/", "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="http://`+f.host+`/v2/token"` {
		t.Errorf("/v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp = get(t, "http://"+f.host+"/v2/runsock-dev/runsock/app/manifests/latest", "")
	wantChallenge := `Bearer realm="http://` + f.host + `/v2/token",service="` + f.host + `",scope="repository:runsock-dev/runsock/app:pull"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Errorf("manifest: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
	}
	if got := body(t, resp); got != `{"errors":[{"code":"UNAUTHORIZED","message":"not authenticated: No valid credential was supplied."}]}` {
		t.Errorf("manifest body: %s", got)
	}
	if v := resp.Header.Get("Docker-Distribution-Api-Version"); v != "registry/2.0" {
		t.Errorf("Docker-Distribution-Api-Version = %q", v)
	}
}

// TestTokenFlow: go-containerregistry's own client goes through the challenge, the token endpoint (any username)
// and back, to push as a writer and pull as a reader; a bare access token works as Bearer on /v2/… (§4.2.6).
func TestTokenFlow(t *testing.T) {
	f := newFixture(t, "")
	img, _ := random.Image(512, 2)
	ref := f.tag(t, "runsock-dev/runsock/app:v1")
	if err := remote.Write(ref, img, f.as(t, "oauth2accesstoken", admin)); err != nil {
		t.Fatalf("push as writer: %v", err)
	}
	for _, user := range []string{"oauth2accesstoken", "_token", "someone"} {
		got, err := remote.Image(ref, f.as(t, user, cpSA))
		if err != nil {
			t.Fatalf("pull as reader (username %q): %v", user, err)
		}
		if d, _ := got.Digest(); d != mustDigest(img) {
			t.Errorf("pulled %s, want %s", d, mustDigest(img))
		}
	}
	tok, _ := f.tokens.Mint(cpSA)
	resp := get(t, "http://"+f.host+"/v2/runsock-dev/runsock/app/tags/list", tok.Value)
	if b := body(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `"v1"`) {
		t.Errorf("bare access token: %d %s", resp.StatusCode, b)
	}
	// Missing tag in a readable repository.
	_, err := remote.Image(f.tag(t, "runsock-dev/runsock/app:nope"), f.as(t, "_token", cpSA))
	wantRegistryError(t, err, 404, "MANIFEST_UNKNOWN", `Failed to fetch "nope" from request "/v2/runsock-dev/runsock/app/manifests/nope".`)
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, "")
	img, _ := random.Image(512, 1)
	if err := remote.Write(f.tag(t, "runsock-dev/runsock/app:v1"), img, f.as(t, "_token", admin)); err != nil {
		t.Fatal(err)
	}
	const res = `"projects/runsock-dev/locations/us-central1/repositories/`
	denied := func(perm, repo string) string {
		return `Permission "artifactregistry.repositories.` + perm + `" denied on resource ` + res + repo + `" (or it may not exist)`
	}
	unauthenticated := func(perm, repo string) string {
		return `Unauthenticated request. Unauthenticated requests do not have permission "artifactregistry.repositories.` + perm + `" on resource ` + res + repo + `" (or it may not exist)`
	}
	f.now = f.now.Add(-2 * time.Hour) // tokens minted from here on are already expired
	stale, _ := f.tokens.Mint(cpSA)
	f.now = f.now.Add(2 * time.Hour)
	tests := []struct {
		name   string
		push   bool
		path   string
		auth   remote.Option
		secret string // the access token behind auth, for the upload; "" = anonymous
		code   int
		err    string
		msg    string
	}{
		{"anonymous pull", false, "runsock-dev/runsock/app:v1", remote.WithAuth(authn.Anonymous), "", 403, "DENIED", unauthenticated("downloadArtifacts", "runsock")},
		{"anonymous push", true, "runsock-dev/runsock/app:v2", remote.WithAuth(authn.Anonymous), "", 403, "DENIED", unauthenticated("uploadArtifacts", "runsock")},
		{"pull without reader", false, "runsock-dev/runsock/app:v1", f.as(t, "_token", nobody), "", 403, "DENIED", denied("downloadArtifacts", "runsock")},
		{"pull of the team repo by the jobs SA", false, "runsock-dev/runsock/app:v1", f.as(t, "_token", jobsSA), "", 403, "DENIED", denied("downloadArtifacts", "runsock")},
		{"push without writer", true, "runsock-dev/runsock/app:v2", f.as(t, "_token", cpSA), mint(t, f, cpSA), 403, "DENIED", denied("uploadArtifacts", "runsock")},
		{"missing repository", false, "runsock-dev/nosuchrepo/app:v1", f.as(t, "_token", admin), "", 403, "DENIED", denied("downloadArtifacts", "nosuchrepo")},
		{"other project", false, "other-project/runsock/app:v1", f.as(t, "_token", admin), "", 403, "DENIED",
			`Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/other-project/locations/us-central1/repositories/runsock" (or it may not exist)`},
		{"bad token", false, "runsock-dev/runsock/app:v1", remote.WithAuth(&authn.Basic{Username: "oauth2accesstoken", Password: "ya29.forged"}), "", 401, "UNAUTHORIZED", "failed authentication"},
		{"expired token", false, "runsock-dev/runsock/app:v1", remote.WithAuth(&authn.Basic{Username: "oauth2accesstoken", Password: stale.Value}), "", 401, "UNAUTHORIZED", "failed authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.push {
				// go-containerregistry first asks whether each blob exists (HEAD: a 403 without a body), so the
				// refusal's body is read from the upload the client would start next.
				err = remote.Write(f.tag(t, tt.path), img, tt.auth)
				var terr *transport.Error
				if !errors.As(err, &terr) || terr.StatusCode != tt.code {
					t.Fatalf("push: %v, want status %d", err, tt.code)
				}
				err = f.startUpload(t, tt.path, tt.secret)
			} else {
				_, err = remote.Image(f.tag(t, tt.path), tt.auth)
			}
			wantRegistryError(t, err, tt.code, tt.err, tt.msg)
		})
	}

	// An expired access token sent straight as Bearer gets the challenge again.
	resp := get(t, "http://"+f.host+"/v2/runsock-dev/runsock/app/tags/list", stale.Value)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "scope=") {
		t.Errorf("expired bearer: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestRemoteRepository(t *testing.T) {
	f := newFixture(t, "")
	alpine, _ := random.Image(512, 2)
	up, _ := name.NewTag(f.upstream+"/library/alpine:latest", name.Insecure)
	if err := remote.Write(up, alpine); err != nil {
		t.Fatalf("push to the upstream (anonymous, as Docker Hub's publishers): %v", err)
	}
	cp := f.as(t, "_token", cpSA)
	ref := f.tag(t, "runsock-dev/dockerhub/library/alpine:latest")
	for i := range 2 {
		got, err := remote.Image(ref, cp)
		if err != nil {
			t.Fatalf("pull %d through the remote repository: %v", i, err)
		}
		if d, _ := got.Digest(); d != mustDigest(alpine) {
			t.Fatalf("pull %d: digest %s, want %s", i, d, mustDigest(alpine))
		}
		if l, err := got.Layers(); err != nil || len(l) != 2 {
			t.Fatalf("layers %d, %v", len(l), err)
		}
		if _, err := mustLayer(got).Compressed(); err != nil {
			t.Fatalf("blob: %v", err)
		}
		// The second pull is served from the cache: the upstream changes, the cached tag does not.
		other, _ := random.Image(256, 1)
		if err := remote.Write(up, other); err != nil {
			t.Fatal(err)
		}
	}
	digestRef, _ := name.NewDigest(f.host+"/runsock-dev/dockerhub/library/busybox@"+mustDigest(alpine).String(), name.Insecure)
	bb, _ := name.NewTag(f.upstream+"/library/busybox:latest", name.Insecure)
	if err := remote.Write(bb, alpine); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(digestRef, cp); err != nil {
		t.Errorf("pull by digest through the remote repository: %v", err)
	}

	_, err := remote.Image(f.tag(t, "runsock-dev/dockerhub/library/nosuch:latest"), cp)
	wantRegistryError(t, err, 404, "MANIFEST_UNKNOWN", `Failed to fetch "latest" from request "/v2/library/nosuch/manifests/latest".`)
	_, err = remote.Image(f.tag(t, "runsock-dev/dockerhub/alpine:latest"), cp)
	wantRegistryError(t, err, 404, "MANIFEST_UNKNOWN", `Failed to fetch "latest" from request "/v2/alpine/manifests/latest".`)
	_, err = remote.Image(ref, f.as(t, "_token", nobody))
	wantRegistryError(t, err, 403, "DENIED", `Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/runsock-dev/locations/us-central1/repositories/dockerhub" (or it may not exist)`)

	f2 := newFixture(t, "", Binding{"dockerhub", "roles/artifactregistry.writer", "user:" + admin})
	err = remote.Write(f2.tag(t, "runsock-dev/dockerhub/library/alpine:mine"), alpine, f2.as(t, "_token", admin))
	wantRegistryError(t, err, 405, "UNSUPPORTED", "Remote repositories do not accept uploads")
}

func TestImagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, Binding{"runsock", "roles/artifactregistry.repoAdmin", "user:" + admin})
	img, _ := random.Image(1024, 2)
	idx, _ := random.Index(256, 1, 2)
	w := f.as(t, "_token", admin)
	if err := remote.Write(f.tag(t, "runsock-dev/runsock/kept:v1"), img, w); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(f.tag(t, "runsock-dev/runsock/multi:v1"), idx, w); err != nil {
		t.Fatal(err)
	}
	gone := f.tag(t, "runsock-dev/runsock/gone:v1")
	if err := remote.Write(gone, img, w); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(gone, f.as(t, "_token", cpSA)); err == nil {
		t.Fatal("a reader deleted an image")
	}
	if err := remote.Delete(gone, w); err != nil {
		t.Fatal(err)
	}

	// A new Registry on the same directory: what was pushed is still there, what was deleted is not.
	f2 := newFixture(t, dir)
	r := f2.as(t, "_token", cpSA)
	kept2 := f2.tag(t, "runsock-dev/runsock/kept:v1")
	for _, ref := range []name.Reference{kept2, digestOf(t, kept2.Repository, mustDigest(img))} {
		got, err := remote.Image(ref, r, remote.WithContext(context.Background()))
		if err != nil {
			t.Fatalf("after restart, %s: %v", ref, err)
		}
		if l, err := got.Layers(); err != nil || len(l) != 2 {
			t.Fatalf("layers = %d, %v; want 2", len(l), err)
		}
		if rc, err := mustLayer(got).Compressed(); err != nil {
			t.Errorf("blob after restart: %v", err)
		} else {
			rc.Close()
		}
	}
	if got, err := remote.Index(f2.tag(t, "runsock-dev/runsock/multi:v1"), r); err != nil || mustDigest(got) != mustDigest(idx) {
		t.Errorf("index after restart: %v", err)
	}
	if _, err := remote.Head(f2.tag(t, "runsock-dev/runsock/gone:v1"), r); err == nil {
		t.Error("deleted tag is back after restart")
	}
}

func TestParseBinding(t *testing.T) {
	got, err := ParseBinding("runsock:writer=user:a@x,serviceAccount:b@y")
	if err != nil || len(got) != 2 || got[0] != (Binding{"runsock", "roles/artifactregistry.writer", "user:a@x"}) || got[1].Member != "serviceAccount:b@y" {
		t.Errorf("ParseBinding = %+v, %v", got, err)
	}
	for _, bad := range []string{"runsock", "runsock:writer", "runsock:owner=user:a@x", "runsock:reader=a@x", ":reader=user:a@x"} {
		if _, err := ParseBinding(bad); err == nil {
			t.Errorf("ParseBinding(%q) accepted", bad)
		}
	}
}

func mint(t *testing.T, f *fixture, email string) string {
	t.Helper()
	tok, err := f.tokens.Mint(email)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// startUpload does what a pushing client does after the token flow: get a token for push,pull (with the access
// token as the Basic password, or none) and start a blob upload.
func (f *fixture) startUpload(t *testing.T, path, accessToken string) error {
	t.Helper()
	repo, _, _ := strings.Cut(path, ":")
	req, _ := http.NewRequest("GET", "http://"+f.host+"/v2/token?scope=repository:"+repo+":push,pull&service="+f.host, nil)
	if accessToken != "" {
		req.SetBasicAuth("oauth2accesstoken", accessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || tok.Token == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	req, _ = http.NewRequest("POST", "http://"+f.host+"/v2/"+repo+"/blobs/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return transport.CheckError(resp, http.StatusAccepted)
}

func wantRegistryError(t *testing.T, err error, status int, code, msgPrefix string) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("err = %v, want a registry error %d %s", err, status, code)
	}
	if terr.StatusCode != status || len(terr.Errors) == 0 || string(terr.Errors[0].Code) != code || !strings.HasPrefix(terr.Errors[0].Message, msgPrefix) {
		t.Errorf("got %d %+v\nwant %d %s %q", terr.StatusCode, terr.Errors, status, code, msgPrefix)
	}
}

func get(t *testing.T, url, bearer string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		c, _ := json.Marshal(v)
		return string(c)
	}
	return string(b)
}

func digestOf(t *testing.T, repo name.Repository, h v1.Hash) name.Digest {
	t.Helper()
	d, err := name.NewDigest(repo.String()+"@"+h.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDigest(d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	h, err := d.Digest()
	if err != nil {
		panic(err)
	}
	return h
}

func mustLayer(img v1.Image) v1.Layer {
	l, err := img.Layers()
	if err != nil {
		panic(err)
	}
	return l[0]
}
