// Package archive implements Docker's container archive endpoints inside the container, in Go, so images need no
// tar: Stat (X-Docker-Container-Path-Stat), Get (a tar stream of a file or directory) and Put (extract a tar stream,
// plain or gzip/bzip2, into a directory, with noOverwriteDirNonDir and copyUIDGID). Both directions stream: no whole
// archive or file is ever held in memory.
//
// It starts no goroutines and imports only linkproto from runsock.
package archive
