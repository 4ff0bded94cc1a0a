// Package containerfs owns a container's files while no agent serves them: the archives copied into a container
// before it starts (staged in Firestore, applied by the agent before the user's process starts), and the container's
// filesystem read without running it — its image's layers from the registry, with the staged archives on top.
//
// It imports no HTTP code and no other runsock package but errkind; it starts a goroutine per archive it streams
// (Get), which ends when the reader is closed or read to the end.
package containerfs
