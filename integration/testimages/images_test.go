package testimages

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/registry/registrytest"
)

// files lists the image's flattened filesystem: path → tar header.
func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestImageContents(t *testing.T) {
	for _, n := range Names {
		t.Run(n, func(t *testing.T) {
			img, err := Image(n)
			if err != nil {
				t.Fatal(err)
			}
			fs := files(t, img)
			for _, applet := range []string{"bin/sh", "bin/echo", "bin/cat", "bin/sleep", "usr/bin/tail", "bin/ls", "usr/bin/env", "usr/bin/id", "bin/hostname", "usr/bin/printf", "bin/kill", "usr/bin/wc", "usr/bin/head", "bin/grep", "usr/bin/seq", "bin/true", "bin/false", "bin/date", "usr/sbin/httpd", "bin/mkdir", "bin/rm", "bin/dd", "usr/bin/yes", "bin/ps"} {
				h, ok := fs[applet]
				if !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
					t.Errorf("%s: want a symlink to /bin/busybox, got %+v", applet, h)
				}
			}
			if h := fs["bin/busybox"]; h == nil || h.Mode&0o111 == 0 || h.Size == 0 {
				t.Errorf("bin/busybox missing or not executable: %+v", h)
			}
			if h := fs["tmp"]; h == nil || h.Mode&0o7777 != 0o1777 {
				t.Errorf("tmp mode = %o, want 1777", h.Mode)
			}
			for _, f := range []string{"etc/os-release", "etc/hostname", "etc/passwd", "etc/group"} {
				if _, ok := fs[f]; !ok {
					t.Errorf("%s missing", f)
				}
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(cf.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) || cf.OS != "linux" {
				t.Errorf("config = %+v", cf.Config)
			}
			wantCmd := "[sh]"
			if n == "httpd" {
				wantCmd = "[httpd -f -p 8080 -h /www]"
				if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok {
					t.Error("httpd does not expose 8080/tcp")
				}
				if _, ok := fs["www/index.html"]; !ok {
					t.Error("www/index.html missing")
				}
			}
			if _, ok := cf.Config.Volumes["/data"]; ok != (n == "volume") {
				t.Errorf("%s: VOLUME /data = %v, want it only on the volume image", n, ok)
			}
			for f := range VolumeFiles {
				if _, ok := fs[f]; ok != (n == "volume") {
					t.Errorf("%s: %s = %v, want it only on the volume image", n, f, ok)
				}
			}
			if wantUser := map[bool]string{true: "nobody"}[n == "nonroot"]; cf.Config.User != wantUser {
				t.Errorf("%s: User = %q, want %q", n, cf.Config.User, wantUser)
			}
			if got := strings.Join(cf.Config.Cmd, " "); "["+got+"]" != wantCmd {
				t.Errorf("Cmd = %v, want %s", cf.Config.Cmd, wantCmd)
			}
		})
	}
}

func TestImageIsReproducible(t *testing.T) {
	a, err := Image("alpine")
	if err != nil {
		t.Fatal(err)
	}
	base.once = sync.Once{} // build the base layer again
	b, err := Image("alpine")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds differ: %s vs %s", da, db)
	}
}

func TestPushAndPullByDigest(t *testing.T) {
	const admin, reader = "admin@runsock.dev", "cp@runsock-dev.iam.gserviceaccount.com"
	s := registrytest.Start(t, registry.Config{
		Repositories: []string{"runsock", "runsock-agent"}, RemoteRepositories: []string{"dockerhub"},
		Bindings: []registry.Binding{
			{Repository: "runsock", Role: "roles/artifactregistry.writer", Member: "user:" + admin},
			{Repository: registry.AllRepositories, Role: "roles/artifactregistry.reader", Member: "serviceAccount:" + reader},
		},
	})
	d := Destination{Registry: s.Host, Project: "runsock-dev", Upstream: s.Upstream}
	ctx := context.Background()
	if err := PushAll(ctx, d); err == nil {
		t.Fatal("pushed without an access token")
	}
	d.AccessToken = s.Token(t, admin)
	if err := PushAll(ctx, d); err != nil {
		t.Fatal(err)
	}
	auth := s.Auth(t, reader)
	// What the control plane resolves: the team's images, and Docker Hub's through the remote repository.
	refs := map[string]string{}
	for _, tg := range Targets(d) {
		refs[tg.Ref] = tg.Image
		if tg.Upstream {
			refs[strings.Replace(tg.Ref, d.Upstream, d.Registry+"/"+d.Project+"/dockerhub", 1)] = tg.Image
		}
	}
	for ref, image := range refs {
		t.Run(ref, func(t *testing.T) {
			want, _ := Image(image)
			wantDigest, _ := want.Digest()
			tag, _ := name.NewTag(ref, name.Insecure)
			desc, err := remote.Head(tag, remote.WithContext(ctx), auth)
			if err != nil || desc.Digest != wantDigest {
				t.Fatalf("tag %s → %v, %v; want %s", ref, desc, err, wantDigest)
			}
			dref, err := name.NewDigest(strings.TrimSuffix(ref, ":latest")+"@"+wantDigest.String(), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(dref, remote.WithContext(ctx), auth)
			if err != nil {
				t.Fatalf("pull by digest: %v", err)
			}
			if got, _ := img.Digest(); got != wantDigest {
				t.Errorf("digest = %s, want %s", got, wantDigest)
			}
			if fs := files(t, img); fs["bin/sh"] == nil {
				t.Error("pulled image has no bin/sh")
			}
		})
	}
	if !slices.ContainsFunc(Targets(d), func(tg Target) bool { return strings.HasSuffix(tg.Ref, "/library/alpine:latest") && tg.Upstream }) {
		t.Error("no library/alpine in the Docker Hub stand-in")
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	paths, err := Save(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(Names) {
		t.Fatalf("paths = %v", paths)
	}
	for i, p := range paths {
		n := Names[i]
		tag, _ := name.NewTag(n + ":latest")
		img, err := tarball.ImageFromPath(p, &tag)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want, _ := Image(n)
		gotCfg, _ := img.ConfigName()
		wantCfg, _ := want.ConfigName()
		if gotCfg != wantCfg {
			t.Errorf("%s: config %s, want %s", p, gotCfg, wantCfg)
		}
		// docker load reads manifest.json's RepoTags.
		manifest := readTarFile(t, p, "manifest.json")
		var m []struct{ RepoTags []string }
		if err := json.Unmarshal(manifest, &m); err != nil || len(m) != 1 || !slices.Contains(m[0].RepoTags, n+":latest") {
			t.Errorf("%s manifest.json = %s", filepath.Base(p), manifest)
		}
	}
}

func readTarFile(t *testing.T, path, member string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", path, member, err)
		}
		if h.Name == member {
			b, _ := io.ReadAll(tr)
			return b
		}
	}
}
