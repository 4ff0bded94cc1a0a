package images

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParseRef reads arbitrary image references as docker pull sends them: nothing panics, a Docker Hub name stays
// inside the Docker Hub remote repository, and any other name keeps its own registry.
func FuzzParseRef(f *testing.F) {
	const hub = "127.0.0.1:18091/p/dockerhub"
	for _, s := range []string{"alpine", "library/alpine:3", "docker.io/x/y@sha256:" + strings.Repeat("a", 64),
		"127.0.0.1:18091/p/runsock/app:v1", "169.254.169.254/computemetadata/v1", "localhost/x", "a/../b", "UPPER"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRef(s, hub, true)
		if err != nil {
			return
		}
		nref, err := name.ParseReference(r.remoteRef())
		if err != nil {
			return // resolve reports it as an invalid reference
		}
		if strings.HasPrefix(r.remote, hub+"/") {
			if rest := strings.TrimPrefix(r.remote, hub+"/"); strings.Contains("/"+rest+"/", "/../") || strings.Contains("/"+rest+"/", "/./") {
				t.Fatalf("%q maps to %q, outside the Docker Hub remote", s, r.remote)
			}
			return
		}
		if host := nref.Context().RegistryStr(); !strings.HasPrefix(strings.ToLower(s), strings.ToLower(host)+"/") {
			t.Fatalf("%q resolves at registry %q", s, host)
		}
	})
}
