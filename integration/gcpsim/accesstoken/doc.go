// Package accesstoken mints and verifies gcpsim's OAuth2 access tokens: the `ya29.` tokens that the metadata server
// hands to service accounts (instance/service-accounts/default/token), that people get from the gcloud-style
// endpoint (like `gcloud auth print-access-token`), and that the registry accepts in Docker's token flow.
//
// Google's access tokens are opaque to their holders; these are too, but gcpsim can check them without keeping a
// list: `ya29.` + base64url(JSON {email, exp}) + `.` + base64url(HMAC-SHA256). The HMAC key is kept in a file (the
// state dir) so that tokens stay valid across a gcpsim restart, for their one-hour life, as Google's do.
//
// The package runs no goroutines and imports no other gcpsim package.
package accesstoken
