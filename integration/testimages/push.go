package testimages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Target is one reference PushAll writes and the image it holds.
type Target struct {
	Ref   string // e.g. 127.0.0.1:18091/runsock-dev/runsock/alpine:latest
	Image string // one of Names
}

// Targets lists where PushAll puts the images in an Artifact-Registry-shaped registry: the project's runsock
// repository holds every image, and the dockerhub remote repository holds library/alpine and library/busybox, so
// that docker.io/library/alpine:latest resolves.
func Targets(registryHost, project string) []Target {
	var ts []Target
	for _, n := range Names {
		ts = append(ts, Target{Ref: fmt.Sprintf("%s/%s/runsock/%s:latest", registryHost, project, n), Image: n})
	}
	for _, n := range []string{"alpine", "busybox"} {
		ts = append(ts, Target{Ref: fmt.Sprintf("%s/%s/dockerhub/library/%s:latest", registryHost, project, n), Image: n})
	}
	return ts
}

// PushAll builds the images and pushes them to every Target over plain HTTP (the simulated registry has no TLS).
func PushAll(ctx context.Context, registryHost, project string) error {
	for _, t := range Targets(registryHost, project) {
		img, err := Image(t.Image)
		if err != nil {
			return err
		}
		ref, err := name.NewTag(t.Ref, name.Insecure)
		if err != nil {
			return fmt.Errorf("push %s: %w", t.Ref, err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
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
