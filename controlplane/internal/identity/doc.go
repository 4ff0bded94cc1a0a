// Package identity owns who a caller is: verifying identity tokens, the allow-list, and carrying the Principal
// through a request's context.
//
// Modes:
//   - oidc: github.com/coreos/go-oidc/v3 checks the token's RS256 signature against the issuer's keys (discovered at
//     ISSUER/.well-known/openid-configuration → jwks_uri; the document must name exactly ISSUER), the issuer and the
//     expiry (DefaultClockSkew); runsock then checks audience, iat and email_verified. Used wherever no Cloud Run
//     IAM is in front (gcpsim's issuer locally).
//   - cloudrun: Cloud Run's IAM has verified the token and forwards it with its signature removed
//     ("h.p.SIGNATURE_REMOVED_BY_GOOGLE", also "h.p." or "h.p"); go-oidc reads it without a signature, and issuer
//     (https://accounts.google.com, or the configured issuer: gcpsim's behind the local cloud's front end),
//     audience, expiry and email_verified are still checked.
//
// The token is read from X-Serverless-Authorization: Bearer, then Authorization: Bearer (localproxy sends the former,
// so Authorization stays free for the Docker client).
//
// Verifier.Middleware answers 401 {"message": ...} without a valid token and 403 for a verified identity that is not
// on the allow-list; messages say what to do. Docker's ping (GET/HEAD /_ping, optionally /vX.Y/_ping) is open, because
// every Docker client pings before anything else to negotiate the API version, and the first real request then gets
// the helpful 401. The ping handler must therefore reveal nothing about the caller or the team: only the API version
// headers, OSType and "OK". Verify is what the agent link calls for job service-account tokens; it does not apply the
// allow-list (Authorize does).
//
// It imports no other runsock package. The issuer's keys are fetched lazily and no request waits on the issuer when
// it need not (keyset.go): a token whose key is cached is checked at once; a cache older than an hour is refreshed
// in the background and served meanwhile (and after a failed refresh); a token naming an unknown key waits for the
// one running fetch, shared by every waiter, and a new fetch starts at most once per 30 s, so forged kids cannot make
// it hammer the issuer. Each fetch runs in a goroutine the Verifier owns, bounded by 10 s; Close cancels and waits.
package identity
