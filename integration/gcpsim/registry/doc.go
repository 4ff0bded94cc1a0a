// Package registry is gcpsim's stand-in for Artifact Registry, as strict as Google's (google-front-door.md §4):
// image names are HOST/PROJECT/REPO/IMAGE[:tag|@digest]; every request needs credentials through Docker's token flow
// (401 challenges, a token endpoint on the host:port the client dialled that takes an OAuth2 access token as the
// Basic password, or the access token straight as Bearer); pulls need artifactregistry.repositories.downloadArtifacts
// (reader), pushes uploadArtifacts (writer), deletes deleteArtifacts (repoAdmin), from the repository's IAM
// bindings; refusals are Artifact Registry's 403 DENIED bodies, and a repository that does not exist is refused the
// same way. Remote repositories (the Docker Hub remote repository, dockerhub) pull through from Upstream, an
// anonymous registry standing in for registry-1.docker.io: the first pull of a manifest fetches and caches it.
// In the dev project the repositories are runsock (the team's images), runsock-agent (images with the agent layered
// on) and dockerhub (dockerhub/library/alpine).
//
// Storage: with a directory, blobs live on disk (go-containerregistry's disk blob handler) and every successful
// manifest PUT or DELETE is appended to a journal replayed at start, so images survive a gcpsim restart. Without
// one, everything is in memory. Cross-repository blob mounts are never done: the client uploads instead.
//
// Access tokens are checked by Config.VerifyAccessToken (gcpsim wires package accesstoken). The package runs no
// goroutines and imports no other gcpsim package.
package registry
