package testimages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Target is one reference PushAll writes and the image it holds.
type Target struct {
	Ref   string // e.g. 127.0.0.1:18091/runsock-dev/runsock/alpine:latest
	Image string // one of Names
	// Upstream marks a target in the Docker Hub stand-in (anonymous), not in the Artifact Registry.
	Upstream bool
}

// Destination is where PushAll puts the images.
type Destination struct {
	// Registry is the Artifact-Registry-shaped registry's host:port; Project the project (first path element).
	Registry, Project string
	// Upstream is the host:port of the registry standing in for Docker Hub, which the dockerhub remote repository
	// pulls through from ("" = no Docker Hub images).
	Upstream string
	// AccessToken is an OAuth2 access token of a writer on the runsock repository (as `gcloud auth
	// print-access-token` gives one), sent as Artifact Registry documents: username oauth2accesstoken.
	AccessToken string
}

// Targets lists where PushAll puts the images: the project's runsock repository holds every image, and the Docker
// Hub stand-in holds library/alpine and library/busybox, so that docker.io/library/alpine:latest resolves through
// the dockerhub remote repository.
func Targets(d Destination) []Target {
	var ts []Target
	for _, n := range Names {
		ts = append(ts, Target{Ref: fmt.Sprintf("%s/%s/runsock/%s:latest", d.Registry, d.Project, n), Image: n})
	}
	if d.Upstream != "" {
		for _, n := range []string{"alpine", "busybox"} {
			ts = append(ts, Target{Ref: fmt.Sprintf("%s/library/%s:latest", d.Upstream, n), Image: n, Upstream: true})
		}
	}
	return ts
}

// PushAll builds the images and pushes them to every Target over plain HTTP (the simulated registries have no
// TLS): with the access token to the Artifact Registry, anonymously to the Docker Hub stand-in.
func PushAll(ctx context.Context, d Destination) error {
	auth := remote.WithAuth(&authn.Basic{Username: "oauth2accesstoken", Password: d.AccessToken})
	for _, t := range Targets(d) {
		img, err := Image(t.Image)
		if err != nil {
			return err
		}
		ref, err := name.NewTag(t.Ref, name.Insecure)
		if err != nil {
			return fmt.Errorf("push %s: %w", t.Ref, err)
		}
		opts := []remote.Option{remote.WithContext(ctx)}
		if !t.Upstream {
			opts = append(opts, auth)
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			return fmt.Errorf("push %s: %w", t.Ref, err)
		}
	}
	return nil
}

// Save writes each image as a `docker load` tarball DIR/NAME.tar tagged NAME:latest, and returns the paths.
func Save(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	var paths []string
	for _, n := range Names {
		img, err := Image(n)
		if err != nil {
			return nil, err
		}
		tag, err := name.NewTag(n + ":latest")
		if err != nil {
			return nil, fmt.Errorf("save %s: %w", n, err)
		}
		p := filepath.Join(dir, n+".tar")
		if err := tarball.WriteToFile(p, tag, img); err != nil {
			return nil, fmt.Errorf("save %s: %w", n, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
