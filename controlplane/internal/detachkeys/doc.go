// Package detachkeys owns Docker's detach sequence: parsing a detachKeys value (the query of attach, the DetachKeys
// of exec create; Docker's default ctrl-p,ctrl-q) and spotting the sequence in a TTY stream's input, where it
// detaches the client and leaves the process running.
//
// It imports nothing of runsock's and runs no goroutines.
package detachkeys
