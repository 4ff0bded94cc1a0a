package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// header is the part of a JOSE header runsock reads.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// claims are the ID token claims runsock checks. Audience may be a string or a list in JSON.
type claims struct {
	Issuer        string    `json:"iss"`
	Audience      audience  `json:"aud"`
	Expiry        int64     `json:"exp"`
	IssuedAt      int64     `json:"iat"`
	Email         string    `json:"email"`
	EmailVerified boolClaim `json:"email_verified"`
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
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// boolClaim accepts true and "true": some issuers encode email_verified as a string.
type boolClaim bool

func (c *boolClaim) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true":
		*c = true
	default:
		*c = false
	}
	return nil
}

// token is a JWT split into its parts. Signature is nil when the token carries none (Cloud Run strips it).
type token struct {
	header       header
	claims       claims
	signingInput string
	signature    []byte
}

// SignatureRemoved is what Cloud Run's front end puts in place of the signature of a token it forwards.
const SignatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// parse splits and decodes a compact JWT without verifying it. It accepts "h.p.s", "h.p.", "h.p" and
// "h.p.SIGNATURE_REMOVED_BY_GOOGLE" (no signature).
func parse(raw string) (*token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, fmt.Errorf("malformed token: %d parts", len(parts))
	}
	var t token
	if err := decodeSegment(parts[0], &t.header); err != nil {
		return nil, fmt.Errorf("malformed token header: %w", err)
	}
	if err := decodeSegment(parts[1], &t.claims); err != nil {
		return nil, fmt.Errorf("malformed token payload: %w", err)
	}
	t.signingInput = parts[0] + "." + parts[1]
	if len(parts) == 3 && parts[2] != "" && parts[2] != SignatureRemoved {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, fmt.Errorf("malformed token signature: %w", err)
		}
		t.signature = sig
	}
	return &t, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// verifySignature checks an RS256 signature with key.
func (t *token) verifySignature(key *rsa.PublicKey) error {
	if t.header.Alg != "RS256" {
		return fmt.Errorf("unsupported signing algorithm %q (want RS256)", t.header.Alg)
	}
	if len(t.signature) == 0 {
		return fmt.Errorf("token is not signed")
	}
	sum := sha256.Sum256([]byte(t.signingInput))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], t.signature); err != nil {
		return fmt.Errorf("bad token signature: %w", err)
	}
	return nil
}

// checkClaims checks issuer, audience, expiry and the email of c.
func (c *claims) check(issuers, audiences []string, now time.Time, skew time.Duration) error {
	if !contains(issuers, c.Issuer) {
		return fmt.Errorf("token issuer %q is not trusted (want %s)", c.Issuer, strings.Join(issuers, " or "))
	}
	if !anyContains(audiences, c.Audience) {
		return fmt.Errorf("token audience %q does not match this control plane (want %s)",
			strings.Join(c.Audience, ","), strings.Join(audiences, " or "))
	}
	if c.Expiry == 0 {
		return fmt.Errorf("token has no expiry")
	}
	if exp := time.Unix(c.Expiry, 0); now.After(exp.Add(skew)) {
		return fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if c.IssuedAt != 0 && time.Unix(c.IssuedAt, 0).After(now.Add(skew)) {
		return fmt.Errorf("token issued in the future")
	}
	if c.Email == "" {
		return fmt.Errorf("token carries no email (request it with the email included)")
	}
	if !bool(c.EmailVerified) {
		return fmt.Errorf("token email %q is not verified (email_verified missing or false)", c.Email)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func anyContains(want []string, have []string) bool {
	for _, h := range have {
		if contains(want, h) {
			return true
		}
	}
	return false
}
