package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var devRepos = []string{"runsock", "dockerhub", "runsock-agent"}

func serve(t *testing.T, cfg Config) string {
	t.Helper()
	reg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func tag(t *testing.T, s string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func digestRef(t *testing.T, repo name.Repository, h v1.Hash) name.Digest {
	t.Helper()
	d, err := name.NewDigest(repo.String()+"@"+h.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNames(t *testing.T) {
	host := serve(t, Config{Repositories: devRepos})
	img, _ := random.Image(512, 1)
	tests := []struct {
		ref      string
		wantCode int // 0: accepted
	}{
		{host + "/runsock-dev/runsock/app:v1", 0},
		{host + "/runsock-dev/dockerhub/library/alpine:latest", 0},
		{host + "/runsock-dev/runsock-agent/app:agent-1", 0},
		{host + "/runsock-dev/unknown-repo/app:v1", http.StatusNotFound},
		{host + "/runsock-dev/app:v1", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			err := remote.Write(tag(t, tt.ref), img)
			var terr *transport.Error
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("push: %v", err)
			case tt.wantCode != 0 && (!errors.As(err, &terr) || terr.StatusCode != tt.wantCode):
				t.Fatalf("push err = %v, want status %d", err, tt.wantCode)
			case tt.wantCode == 0:
				got, err := remote.Image(tag(t, tt.ref))
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				if gd, _ := got.Digest(); gd != mustDigest(img) {
					t.Errorf("pulled %s, want %s", gd, mustDigest(img))
				}
			}
		})
	}
}

func mustDigest(d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	h, err := d.Digest()
	if err != nil {
		panic(err)
	}
	return h
}

func TestImagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	host := serve(t, Config{Dir: dir, Repositories: devRepos})
	img, _ := random.Image(1024, 2)
	idx, _ := random.Index(256, 1, 2)
	kept := tag(t, host+"/p/runsock/kept:v1")
	index := tag(t, host+"/p/runsock/multi:v1")
	gone := tag(t, host+"/p/runsock/gone:v1")
	if err := remote.Write(kept, img); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(index, idx); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(gone, img); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(gone); err != nil {
		t.Fatal(err)
	}

	// A new Registry on the same directory: what was pushed is still there, what was deleted is not.
	host2 := serve(t, Config{Dir: dir, Repositories: devRepos})
	ctx := context.Background()
	kept2 := tag(t, host2+"/p/runsock/kept:v1")
	for _, ref := range []name.Reference{kept2, digestRef(t, kept2.Repository, mustDigest(img))} {
		got, err := remote.Image(ref, remote.WithContext(ctx))
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
	if got, err := remote.Index(tag(t, host2+"/p/runsock/multi:v1")); err != nil || mustDigest(got) != mustDigest(idx) {
		t.Errorf("index after restart: %v", err)
	}
	if _, err := remote.Head(tag(t, host2+"/p/runsock/gone:v1")); err == nil {
		t.Error("deleted tag is back after restart")
	}
}

func mustLayer(img v1.Image) v1.Layer {
	l, err := img.Layers()
	if err != nil {
		panic(err)
	}
	return l[0]
}
