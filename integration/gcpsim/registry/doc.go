// Package registry is gcpsim's stand-in for Artifact Registry: an http.Handler wrapping go-containerregistry's
// registry package that serves image names shaped HOST/PROJECT/REPO/IMAGE[:tag|@digest]. In the dev project the
// repositories are runsock (the team's images), dockerhub (the Docker Hub remote repository:
// dockerhub/library/alpine) and runsock-agent (images with the agent layered on).
//
// Storage: with Config.Dir set, blobs live on disk (go-containerregistry's disk blob handler) and every successful
// manifest PUT or DELETE is appended to a journal that New replays, so images survive a gcpsim restart. Without it,
// everything is in memory.
//
// The package runs no goroutines and imports no other gcpsim package.
package registry
