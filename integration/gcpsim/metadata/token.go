package metadata

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// TokenLifetime is how long an identity token is valid, as on Google.
const TokenLifetime = time.Hour

// loadOrCreateKey reads an RSA key (PKCS#1 or PKCS#8 PEM) from path, or generates one and writes it there
// (mode 0600). An empty path gives a key that lives only in memory.
func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			return parseKey(path, b)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("signing key: generate: %w", err)
	}
	if path == "" {
		return key, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// Write then rename, so a crash never leaves half a key behind.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

func parseKey(path string, b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not an RSA key", path)
	}
	return rk, nil
}

// keyID derives a stable kid from the public key.
func keyID(pub *rsa.PublicKey) string {
	sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(pub))
	return fmt.Sprintf("%x", sum[:20])
}

// Claims are the claims of an identity token, as Google's metadata server issues them.
type Claims struct {
	Issuer        string `json:"iss"`
	Audience      string `json:"aud"`
	AuthorizedBy  string `json:"azp"`
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	IssuedAt      int64  `json:"iat"`
	Expires       int64  `json:"exp"`
}

// sign returns an RS256 JWT of claims.
func sign(key *rsa.PrivateKey, kid string, claims any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// numericID is a stable 21-digit numeric ID for an email, standing in for a service account's unique ID.
func numericID(email string) string {
	sum := sha256.Sum256([]byte("gcpsim-sub:" + email))
	n := new(big.Int).SetBytes(sum[:])
	n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	return fmt.Sprintf("1%020d", n)
}

// jwk is one key of a JWKS document.
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func publicJWK(pub *rsa.PublicKey, kid string) jwk {
	return jwk{
		Kty: "RSA", Alg: "RS256", Use: "sig", Kid: kid,
		N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}
