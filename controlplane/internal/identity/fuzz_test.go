package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerify hands arbitrary strings to both modes as bearer tokens: nothing panics; in oidc mode only the seeds'
// signed identity can come out (anything else would be a forgery); in cloudrun mode, where the signature is Cloud
// Run's to check, what is accepted is what an independent reading of the payload accepts.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f)
	oidcV, err := NewVerifier(Config{Mode: ModeOIDC, Issuer: is.srv.URL, Audiences: []string{testAud}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(oidcV.Close)
	crV, err := NewVerifier(Config{Mode: ModeCloudRun, Audiences: []string{testAud}})
	if err != nil {
		f.Fatal(err)
	}
	long := func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }
	good := sign(f, is.key, is.kid, claimsFor(is.srv.URL, "alice@example.com", long))
	google := sign(f, is.key, "g", claimsFor(GoogleIssuer, "Carol@Example.com", long))
	for _, s := range []string{
		good, google, google[:strings.LastIndexByte(google, '.')] + "." + SignatureRemoved,
		withAlg(f, "none", is.kid, claimsFor(is.srv.URL, "alice@example.com", long), nil),
		withAlg(f, "HS256", is.kid, claimsFor(is.srv.URL, "alice@example.com", long), is.key.N.Bytes()),
		"a.b", "a.b.c.d", "", ".", "..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if email, err := oidcV.Verify(ctx, raw); err == nil && email != "alice@example.com" {
			t.Fatalf("oidc mode verified %q as %q", raw, email)
		}
		email, err := crV.Verify(ctx, raw)
		if err != nil {
			return
		}
		if want, ok := acceptable(raw); !ok || want != email {
			t.Fatalf("cloudrun mode verified %q as %q; an independent reading says %q, %v", raw, email, want, ok)
		}
	})
}

// acceptable reads token's payload as Cloud Run mode should: Google's issuer, the audience, a verified email, not
// expired.
func acceptable(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) < 2 {
		return "", false
	}
	p, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var c struct {
		Iss           string          `json:"iss"`
		Aud           json.RawMessage `json:"aud"`
		Exp           float64         `json:"exp"`
		Email         string          `json:"email"`
		EmailVerified any             `json:"email_verified"`
	}
	if json.Unmarshal(p, &c) != nil {
		return "", false
	}
	var auds []string
	if json.Unmarshal(c.Aud, &auds) != nil {
		var one string
		if json.Unmarshal(c.Aud, &one) != nil {
			return "", false
		}
		auds = []string{one}
	}
	verified := c.EmailVerified == true || c.EmailVerified == "true"
	ok := (c.Iss == GoogleIssuer || c.Iss == "accounts.google.com") && slices.Contains(auds, testAud) && verified &&
		c.Email != "" && time.Unix(int64(c.Exp), 0).Add(DefaultClockSkew).After(time.Now())
	return strings.ToLower(c.Email), ok
}
