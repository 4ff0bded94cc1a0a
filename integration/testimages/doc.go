// Package testimages builds the small images runsock's tests and dev stack run: alpine, busybox and httpd, made from
// Debian's busybox-static (/usr/bin/busybox; `apt-get install busybox-static`) with go-containerregistry, no Docker.
// PushAll puts them in gcpsim's Artifact-Registry-shaped registry (the project's runsock repository, with a writer's
// access token) and in its Docker Hub stand-in (library/alpine, library/busybox, which the dockerhub remote
// repository pulls through); Save writes `docker load` tarballs for a real Docker Engine.
//
// The command integration/testimages/cmd/testimages wraps both. The package runs no goroutines and imports nothing
// from gcpsim.
package testimages
