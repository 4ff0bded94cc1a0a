// Package identity owns who a caller is: verifying identity tokens (oidc mode against a JWKS, cloudrun mode reading
// the payload Cloud Run's IAM has already checked), the allow-list, and carrying the Principal through a request's
// context. It imports no other runsock package and starts no goroutines of its own beyond a JWKS refresher owned by
// its Verifier.
package identity
