// Package metadata is gcpsim's metadata server and OIDC issuer: an http.Handler that answers task containers the way
// Cloud Run's metadata server does (computeMetadata/v1: identity tokens, access tokens, the service account's email,
// project and instance facts; `Metadata-Flavor: Google` required), publishes the OIDC discovery document and the
// JWKS, and issues tokens for people on GET /gcpsim/v1/idtoken for the dev stack.
//
// The caller's service account comes from Config.Identity, which the task runner supplies (remote address → email);
// a caller on this machine that is no task (the control plane) is Config.HostServiceAccount. Access tokens (and the
// gcloud-style GET /gcpsim/v1/accesstoken for people) come from Config.AccessToken.
// Identity tokens are RS256 JWTs signed with the standard library; the key is kept in Config.KeyFile so tokens stay
// valid across gcpsim restarts.
//
// The package runs no goroutines of its own and imports no other gcpsim package.
package metadata
