package images

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// ref is a user's image reference, normalised as Docker does, with where it lives in the registry.
type ref struct {
	named reference.Named
	// familiar is the repository as Docker shows it ("alpine", "x/y", "127.0.0.1:18091/p/r/img").
	familiar string
	// tag or digest as given ("" for neither).
	tag, digest string
	// remote is the registry repository the image is pulled from (no tag/digest).
	remote string
}

// parseRef parses s ("alpine", "alpine:3", "docker.io/library/alpine@sha256:…") and maps Docker Hub names onto
// hubRemote ("HOST/PROJECT/dockerhub"). A bare name gets the tag "latest" when withDefaultTag is set.
func parseRef(s, hubRemote string, withDefaultTag bool) (ref, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ref{}, fmt.Errorf("invalid reference format: %w", errdefs.ErrInvalidArgument)
	}
	if withDefaultTag {
		named = reference.TagNameOnly(named)
	}
	r := ref{named: named, familiar: reference.FamiliarName(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	if reference.Domain(named) == "docker.io" {
		r.remote = strings.TrimSuffix(hubRemote, "/") + "/" + reference.Path(named)
	} else {
		r.remote = named.Name()
	}
	return r, nil
}

// remoteRef is the registry reference to resolve: the remote repository with the tag or digest.
func (r ref) remoteRef() string {
	if r.digest != "" {
		return r.remote + "@" + r.digest
	}
	return r.remote + ":" + r.tag
}

// repoTag is the name Docker lists in RepoTags ("alpine:latest"); "" for a digest-only reference.
func (r ref) repoTag() string {
	if r.tag == "" {
		return ""
	}
	return r.familiar + ":" + r.tag
}

// String is the reference as Docker shows it in messages ("alpine:latest", "alpine@sha256:…").
func (r ref) String() string {
	if r.digest != "" {
		return r.familiar + "@" + r.digest
	}
	return r.repoTag()
}
