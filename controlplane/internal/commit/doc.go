// Package commit owns docker commit: a container's filesystem (its image, the archives staged into it and its
// changes since its start, read through containerfs) pushed as a new image to the team's Artifact Registry, with
// the new image's config made as Docker's daemon makes it — the container's config, the request's config merged
// over it, then the --change Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR) — and a history entry with the author and comment. The image is then recorded
// for its owner by a Recorder (the images Service), so docker images lists it and docker run runs it.
//
// It imports containerfs and errkind only; never the HTTP layer, a cloud SDK or Firestore. It starts no goroutines.
package commit
