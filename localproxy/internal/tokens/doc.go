// Package tokens supplies Google identity tokens for the control plane's URL: from a command (--token-command), a
// file (--token-file), service-account credentials or impersonation (google.golang.org/api/idtoken and
// .../impersonate), or `gcloud auth print-identity-token` for user accounts, whose authorized_user credentials
// idtoken refuses. Cache wraps any of them and reuses a token until shortly before its exp claim.
//
// It never logs a token. It starts no goroutines; commands run on the caller's goroutine.
package tokens
