// Package archive implements Docker's container archive endpoints inside the container, in Go, so images need no
// tar: Stat (X-Docker-Container-Path-Stat), Get (a tar stream of a file or directory) and Put (extract a tar stream,
// plain or gzip/bzip2, into a directory, with noOverwriteDirNonDir and copyUIDGID). Both directions stream: no whole
// archive or file is ever held in memory.
//
// Put never writes outside the extraction point, whatever the archive holds: every file operation goes through an
// os.Root (extract.go). Names and links climbing out with ".." are refused as Docker refuses them; a path that would
// lead out through a symbolic link (absolute, or already in the directory) is refused where Docker would resolve it
// in the container's root; regular files replace what their name held instead of writing through hard links;
// devices are skipped, as Docker skips them in a user namespace. Get archives links as links, never following them,
// and each file's size as stated in its header.
//
// It starts no goroutines and imports only linkproto from runsock.
package archive
