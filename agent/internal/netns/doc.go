// Package netns runs a process without network, for Docker's `--network none`: the process gets a new network
// namespace holding only a loopback interface (up, 127.0.0.1), as Docker's `none` gives. Creating a network
// namespace needs CAP_SYS_ADMIN, which a Cloud Run container does not have; a new user namespace gives it, over
// that namespace only, so the process is started in both (clone(CLONE_NEWUSER|CLONE_NEWNET)), with every user and
// group ID the agent sees mapped to itself: inside, the process has the same IDs and files look the same.
//
// The loopback interface is brought up, and the process's user and group set, by the agent binary itself run as a
// helper (Wrap's command, handled by RunHelper) between the clone and the exec of the user's command: Go cannot run
// code in a child before its exec.
//
// It starts no goroutines and imports nothing from runsock.
package netns
