// Package registryauth gives go-containerregistry Google credentials for the one registry runsock uses (the
// configured Artifact Registry host): an authn.Keychain that answers that host with an OAuth2 access token (username
// oauth2accesstoken, as Artifact Registry documents) from golang.org/x/oauth2/google's default credentials — the
// metadata server on Cloud Run (and, locally, gcpsim's, found through GCE_METADATA_HOST), Application Default
// Credentials on a laptop — and every other host with Anonymous.
//
// It is not go-containerregistry's google.Keychain: that one matches hosts by name (*.pkg.dev, gcr.io), answers
// Anonymous for any other host (the local registry included) and caches its first answer for the life of the
// process, even a failure (google-front-door.md §4.6). This one is bound to the configured host, so the same code
// path runs locally and on Google, and it looks for credentials again after a failure.
//
// A failure to get a token is a *CredentialsError, of kind errdefs.ErrUnavailable. It imports no other runsock
// package and runs no goroutines.
package registryauth
