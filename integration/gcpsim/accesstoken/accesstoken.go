package accesstoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lifetime is how long an access token is valid: 60 minutes, as Google's (google-front-door.md §4.2.5).
const Lifetime = time.Hour

// Prefix starts every access token, as Google's OAuth2 access tokens do.
const Prefix = "ya29."

// Errors of Verify.
var (
	ErrMalformed = errors.New("access token is malformed or was not issued by gcpsim")
	ErrExpired   = errors.New("access token has expired")
)

// Token is a minted access token.
type Token struct {
	Value   string
	Email   string
	Expires time.Time
}

// Issuer mints and verifies access tokens with one HMAC key. It is safe for concurrent use.
type Issuer struct {
	key []byte
	now func() time.Time
}

// New loads the HMAC key from keyFile, creating it (mode 0600) when absent. An empty keyFile gives a key in memory:
// tokens then die with the process. now may be nil (time.Now).
func New(keyFile string, now func() time.Time) (*Issuer, error) {
	if now == nil {
		now = time.Now
	}
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("accesstoken: %w", err)
	}
	return &Issuer{key: key, now: now}, nil
}

type claims struct {
	Email   string `json:"email"`
	Expires int64  `json:"exp"`
}

// Mint returns a token for email valid for Lifetime.
func (i *Issuer) Mint(email string) (Token, error) {
	exp := i.now().Add(Lifetime).Truncate(time.Second)
	payload, err := json.Marshal(claims{Email: email, Expires: exp.Unix()})
	if err != nil {
		return Token{}, err
	}
	body := base64.RawURLEncoding.EncodeToString(payload)
	return Token{Value: Prefix + body + "." + i.mac(body), Email: email, Expires: exp}, nil
}

// Verify returns the email a token was minted for, or ErrMalformed or ErrExpired.
func (i *Issuer) Verify(tok string) (Token, error) {
	rest, ok := strings.CutPrefix(tok, Prefix)
	if !ok {
		return Token{}, ErrMalformed
	}
	body, sig, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(i.mac(body))) {
		return Token{}, ErrMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Token{}, ErrMalformed
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Email == "" {
		return Token{}, ErrMalformed
	}
	t := Token{Value: tok, Email: c.Email, Expires: time.Unix(c.Expires, 0)}
	if !i.now().Before(t.Expires) {
		return t, ErrExpired
	}
	return t, nil
}

func (i *Issuer) mac(body string) string {
	h := hmac.New(sha256.New, i.key)
	h.Write([]byte("gcpsim-access-token\x00" + body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func loadOrCreateKey(path string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("key file %s: too short", path)
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("key file: %w", err)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if path == "" {
		return key, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	// Write then rename, so a crash never leaves half a key behind.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, key, 0o600); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return key, nil
}
