// Package volumes owns Docker named and anonymous volumes on runsock: each volume is a prefix of the team's Cloud
// Storage bucket (v1/OWNERKEY/NAME/, OWNERKEY a hash of the owner's email), its record a Firestore document
// (collection "volumes", ID a hash of owner and name) per owner, as containers' names are: another user's volume is
// "no such volume". It serves docker volume create/ls/inspect/rm/prune with Docker's responses, labels, filters
// and errors (409 in use, 404 not found), gives the containers package the volumes a container mounts (Ensure:
// Docker creates a named volume on first use; anonymous volumes are created per container) and removes a
// container's anonymous volumes with it (rm -v, run --rm).
//
// Removing a volume deletes its objects through the Cloud Storage JSON API (bucket.go: objects.list and
// objects.delete with the control plane's service account, over google.golang.org/api's authenticated transport;
// no storage client library). Files (files.go) reads and writes a volume's files through the same API, as Cloud
// Storage FUSE shows them to a container, for what happens while no container has the volume mounted: docker cp
// into and out of a created or exited container's volume paths, and the copy of an image's files into a new empty
// volume at create (copy-up, Copier: the image read through ImageTrees, which the control plane's wiring answers
// from containerfs; where an image has nothing to copy is remembered per digest and path, in memory). Which containers use a volume is asked of the containers package (Users), so the
// record of a volume holds nothing a container change must update.
//
// It never imports the HTTP layer (dockerapi) nor the containers package; its only goroutine is the writer of an
// archive Files.Get streams, which ends with the reader.
package volumes
