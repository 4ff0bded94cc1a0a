package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Registry tokens: what the token endpoint hands out and clients send back as Bearer. Google's are opaque; these
// carry the access token they were exchanged for (so they expire with it), or name the anonymous caller, who gets a
// token too (google-front-door.md §4.2.8) and is refused at the repository.
const (
	tokenPrefix    = "gcpsim-ar."
	anonymousToken = tokenPrefix + "anonymous"
)

// principal authenticates a data-plane request: a registry token from /v2/token, or an OAuth2 access token sent
// straight as Bearer (§4.2.6). email is "" for the anonymous token; ok is false when no valid credential came.
func (r *Registry) principal(req *http.Request) (email string, ok bool) {
	tok, found := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		return "", false
	}
	if tok == anonymousToken {
		return "", true
	}
	tok = strings.TrimPrefix(tok, tokenPrefix)
	email, _, err := r.cfg.VerifyAccessToken(tok)
	if err != nil || email == "" {
		return "", false
	}
	return email, true
}

// realm is the token endpoint on the host:port the client dialled, so that go-containerregistry (≥ v0.21.4, which
// refuses a private-IP realm on another host, §4.2.9) and dockerd both accept it.
func realm(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host + "/v2/token"
}

// challenge is the 401 of a request without a valid credential: on the bare /v2/ the challenge has no service
// (§4.2.1); on a repository path it has service and scope, and Artifact Registry's UNAUTHORIZED body (§4.2.2).
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request, name string) {
	if name == "" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", realm(req)))
	} else {
		action := "pull"
		if permissionFor(req) != PermDownload {
			action = "push,pull"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q,service=%q,scope=%q",
			realm(req), req.Host, "repository:"+name+":"+action))
	}
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "not authenticated: No valid credential was supplied.")
}

// token serves the token endpoint: GET with HTTP Basic, any username (oauth2accesstoken as documented, _token as
// go-containerregistry's google keychain sends, §4.2.5 and §4.2.7) and an OAuth2 access token as the password;
// POST with an OAuth2 form (grant_type=password or refresh_token) likewise. service and scope are not checked
// (§6: empty or missing service is accepted): the repository decides. No credential gets an anonymous token
// (§4.2.8); a credential that does not verify is refused here.
func (r *Registry) token(w http.ResponseWriter, req *http.Request) {
	var secret string
	var given bool
	switch req.Method {
	case http.MethodGet:
		_, secret, given = req.BasicAuth()
	case http.MethodPost:
		if err := req.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "UNSUPPORTED", "invalid token request")
			return
		}
		secret = req.PostForm.Get("password")
		if req.PostForm.Get("grant_type") == "refresh_token" {
			secret = req.PostForm.Get("refresh_token")
		}
		given = secret != ""
	default:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	tok, expires := anonymousToken, time.Now().Add(time.Hour)
	if given {
		email, exp, err := r.cfg.VerifyAccessToken(secret)
		if err != nil || email == "" {
			// gcpsim's wording: Google's for a refused access token at this endpoint is not on record.
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED",
				"failed authentication: the access token is invalid or has expired (get a new one, as with `gcloud auth print-access-token`)")
			return
		}
		tok, expires = tokenPrefix+secret, exp
	}
	now := time.Now()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": max(int(expires.Sub(now).Seconds()), 0), "issued_at": now.UTC().Format(time.RFC3339),
	})
}
