// Package storage is gcpsim's Cloud Storage: the subset of the JSON API (and the XML read path) that
// cloud.google.com/go/storage and runsock's control plane use — buckets.get; objects.get (metadata, alt=media),
// list (prefix, delimiter, includeTrailingDelimiter, pageToken, maxResults), insert (uploadType media, multipart
// and resumable), delete; ifGenerationMatch preconditions (412) — with Google's error JSON
// (../../../docs/reference and /work/shared/reference/cloud-run-volumes.md §4).
//
// Every request needs an OAuth2 access token (gcpsim's accesstoken) and the permission on the bucket from its IAM
// bindings (roles/storage.objectViewer, objectUser, objectAdmin, admin), as Google's front end checks it.
//
// Objects live as files in a directory per bucket (Config.Dir/BUCKET/NAME), so a task container that bind-mounts
// the bucket's directory (a Cloud Run Cloud Storage volume, see the tasks package) writes what the API reads.
// Uploads are written to a temporary file and renamed into place: an object appears whole or not at all.
// Differences from Google, stated in ../README.md: an object's generation is its file's modification time in
// nanoseconds; metageneration is always 1; an empty directory is the placeholder object "dir/"; an object "a" and
// an object "a/b" cannot both exist (a file cannot also be a directory: 409); contentType and custom metadata are
// not kept (served as application/octet-stream), except Cloud Storage FUSE's symlink metadata: such an object is
// kept as a symlink file, as gcsfuse shows it to tasks, and a task's symlink is served as one (upload.go).
//
// The package runs no goroutines and imports no other gcpsim package.
package storage
