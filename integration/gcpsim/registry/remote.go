package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// serveRemote serves a remote repository (google-front-door.md §4.5): a manifest not yet cached is fetched from
// the upstream (image in PROJECT/REPO/IMAGE = the upstream's IMAGE, so Docker Hub's official images need
// "library/", the stricter reading of §4.5.2), stored with its blobs, and then served like any other; later pulls
// come from the cache. What the upstream lacks fails with 404 MANIFEST_UNKNOWN (§4.5.1). Clients never write.
func (r *Registry) serveRemote(w http.ResponseWriter, req *http.Request, name, image, perm string) {
	if perm != PermDownload {
		// gcpsim's wording: a remote repository is read-only; Google's exact refusal is not on record.
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "Remote repositories do not accept uploads or deletions.")
		return
	}
	if isManifestRead(req) && !r.store.has(req.URL.Path) {
		ref := req.URL.Path[strings.LastIndex(req.URL.Path, "/manifests/")+len("/manifests/"):]
		upstreamPath := "/v2/" + image + "/manifests/" + ref
		if err := r.fetch(req.Context(), name, image, ref); err != nil {
			var terr *transport.Error
			if errors.As(err, &terr) && terr.StatusCode < 500 {
				writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("Failed to fetch %q from request %q.", ref, upstreamPath))
				return
			}
			r.log.Warn("registry: upstream fetch failed", "image", image, "ref", ref, "err", err)
			writeError(w, http.StatusBadGateway, "UNAVAILABLE", fmt.Sprintf("Failed to fetch %q from request %q: upstream unavailable.", ref, upstreamPath))
			return
		}
	}
	r.store.ServeHTTP(w, req)
}

// fetch copies IMAGE:ref (tag or digest) from the upstream into the store as NAME:ref.
func (r *Registry) fetch(ctx context.Context, name, image, ref string) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.store.has("/v2/" + name + "/manifests/" + ref) {
		return nil // another puller fetched it meanwhile
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	src, err := reference(r.cfg.Upstream+"/"+image, ref)
	if err != nil {
		return err
	}
	dst, err := reference(storeHost+"/"+name, ref)
	if err != nil {
		return err
	}
	desc, err := remote.Get(src, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	into := []remote.Option{remote.WithContext(ctx), remote.WithTransport(handlerTransport{r.store})}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		err = remote.WriteIndex(dst, idx, into...)
		if err == nil {
			r.log.Info("registry: cached from upstream", "image", image, "ref", ref, "digest", desc.Digest.String())
		}
		return err
	}
	img, err := desc.Image()
	if err != nil {
		return err
	}
	if err := remote.Write(dst, img, into...); err != nil {
		return err
	}
	r.log.Info("registry: cached from upstream", "image", image, "ref", ref, "digest", desc.Digest.String())
	return nil
}

func reference(repo, ref string) (name.Reference, error) {
	if strings.HasPrefix(ref, "sha256:") {
		return name.NewDigest(repo+"@"+ref, name.Insecure)
	}
	return name.NewTag(repo+":"+ref, name.Insecure)
}

// storeHost is the name the in-process client gives the store; handlerTransport never dials it.
const storeHost = "store.gcpsim.internal"

// handlerTransport serves a client's requests with an http.Handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		req.Body = http.NoBody // as a server sees a request without a body
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
