package frontend

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// GcloudAudience is the aud of a person's token from `gcloud auth print-identity-token` (gcloud's OAuth client ID),
// accepted for user principals only (fact 1.1.5).
const GcloudAudience = "32555940559.apps.googleusercontent.com"

// SignatureRemoved replaces the signature of every token the front end consumed (facts 1.4.1, 1.4.3, 1.4.4).
const SignatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// Header names the front end reads the token from (fact 1.1.2).
const (
	headerServerless = "X-Serverless-Authorization"
	headerAuth       = "Authorization"
)

// claims are the ID-token claims the front end checks.
type claims struct {
	Issuer        string   `json:"iss"`
	Audience      audience `json:"aud"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	IssuedAt      int64    `json:"iat"`
	Expires       int64    `json:"exp"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// credential is the header the front end consumed and the token in it.
type credential struct {
	header string // canonical header name
	token  string
}

// pickCredential applies Google's precedence (fact 1.1.3): X-Serverless-Authorization, when present, is the only
// header checked; otherwise Authorization. ok false means there is no token at all (403); a refusal with status 401
// means the header is there but unusable (several headers, not "Bearer <one JWT>").
func pickCredential(h http.Header) (credential, *refusal, bool) {
	name := headerAuth
	if len(h.Values(headerServerless)) > 0 {
		name = headerServerless
	}
	vals := h.Values(name)
	if len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == "") {
		return credential{}, nil, false
	}
	if len(vals) > 1 {
		r := refuseToken("Multiple authorization headers are present in the request")
		return credential{}, &r, true
	}
	// The scheme word must be "Bearer" exactly: whether Google accepts "bearer" is unconfirmed (fact 1.1.6), so the
	// stricter reading refuses it.
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		r := refuseToken("the header is not \"Bearer <ID token>\"")
		return credential{}, &r, true
	}
	if strings.ContainsAny(tok, " ,\t") {
		r := refuseToken("the header holds several JWTs")
		return credential{}, &r, true
	}
	return credential{header: name, token: tok}, nil, true
}

// verifier checks tokens signed by gcpsim's issuer.
type verifier struct {
	issuer string
	key    *rsa.PublicKey
	now    func() time.Time
}

// verify checks the token's form, signature, issuer and expiry and returns its claims. Audience and IAM are the
// caller's. No clock skew is allowed (the skew Google tolerates is unconfirmed, fact 1.2.7; the stricter reading).
func (v verifier) verify(raw string) (claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return claims{}, errors.New("not a JWT (an access token or malformed)")
	}
	var hdr struct{ Alg, Kid string }
	var c claims
	if err := decode(parts[0], &hdr); err != nil {
		return claims{}, fmt.Errorf("malformed JWT header: %w", err)
	}
	if err := decode(parts[1], &c); err != nil {
		return claims{}, fmt.Errorf("malformed JWT payload: %w", err)
	}
	if hdr.Alg != "RS256" {
		return claims{}, fmt.Errorf("alg %q", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims{}, errors.New("malformed signature")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(v.key, crypto.SHA256, sum[:], sig); err != nil {
		return claims{}, errors.New("bad signature")
	}
	now := v.now().Unix()
	switch {
	case c.Issuer != v.issuer:
		return claims{}, fmt.Errorf("issuer %q", c.Issuer)
	case c.Expires == 0 || now >= c.Expires:
		return claims{}, errors.New("expired")
	case c.IssuedAt > now:
		return claims{}, errors.New("issued in the future")
	}
	return c, nil
}

func decode(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// stripSignature is the token as the service receives it.
func stripSignature(raw string) string {
	i := strings.LastIndexByte(raw, '.')
	return raw[:i+1] + SignatureRemoved
}

// isServiceAccount tells a service-account principal from a person by the email's domain.
func isServiceAccount(email string) bool {
	return strings.HasSuffix(strings.ToLower(email), ".gserviceaccount.com")
}
