// Package binds carries Docker bind mounts (`-v /abs/path:/ctr[:ro]`, `--mount type=bind`) from the machine running
// docker to runsock containers; localproxy is the only part that can read those files.
//
// At create (Manager.Prepare), for each bind whose source is a local path, it packs the source (directories, regular
// files, symlinks; at most Config.Limit bytes of files, else a Docker-style 400 naming the limit and the path) and
// stages it with the control plane (proxyproto's binds contract: the control plane stores it in the volumes bucket
// and mounts it like a volume, :ro kept), then forwards the create naming the stagings in
// proxyproto.StagedBindsHeader. A missing source is created as a directory for `-v`, as Docker does; for
// `--mount type=bind` it is Docker's error. Binds of a Docker socket are not packed: localproxy's own socket path
// is rewritten to /var/run/docker.sock, and /var/run/docker.sock and /run/docker.sock pass through unchanged (the
// control plane decides what they mean).
//
// Read-write binds flow back (sync.go): when the container exits (a `die` event, or before the answer to a `wait`
// reaches the client, so `docker run` returns with the files already back), on demand (`localproxy sync
// CONTAINER`), and at localproxy's next start for containers that exited while it was not running. Conflict rule:
// a laptop file that changed since it was uploaded (or last synced) is kept, and the container's version is written
// beside it as NAME.runsock-container; a file the container deleted is deleted only if the laptop's copy is
// unchanged.
//
// What it staged is recorded under Config.StateDir (one JSON file per container), so nothing is lost across
// restarts; a staging is deleted once its container is destroyed and its changes are back.
//
// Goroutines: one events follower (Start), ended and waited for by Close. Syncs of one container are serialised.
package binds
