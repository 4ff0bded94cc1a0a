// Package capture records a container's changes against its image: a snapshot of the root filesystem taken before
// the user's process starts, compared after it ends, gives the added and modified files and the deletions, written
// as one image layer (a tar with whiteouts, as the OCI layer format has them).
//
// Only the root filesystem's own device is walked: /proc, /sys, /dev, the files Docker mounts (/etc/hostname,
// /etc/hosts, /etc/resolv.conf), volumes and the agent's own directory are not part of the container's changes, as
// in Docker's diff. It starts no goroutines and imports only the agent's archive package (its tar entries).
package capture
