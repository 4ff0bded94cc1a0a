package identity

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// jwksMaxAge is how long fetched keys are trusted before a refetch.
	jwksMaxAge = time.Hour
	// jwksMinRefetch bounds refetches caused by unknown key IDs: a stream of tokens with made-up kids costs at most
	// one fetch per interval.
	jwksMinRefetch = 30 * time.Second
	// maxDocBytes caps discovery documents and key sets.
	maxDocBytes = 1 << 20
)

// keySet caches the issuer's JWKS. It fetches lazily (no goroutine): on first use, when older than jwksMaxAge, and on
// an unknown kid at most once per jwksMinRefetch.
type keySet struct {
	issuer string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
	triedAt   time.Time
}

// key returns the public key for kid, fetching the key set when needed.
func (k *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	stale := k.keys == nil || now.Sub(k.fetchedAt) > jwksMaxAge
	if key, ok := k.keys[kid]; ok && !stale {
		return key, nil
	}
	if stale || now.Sub(k.triedAt) >= jwksMinRefetch {
		k.triedAt = now
		keys, err := k.fetch(ctx)
		if err != nil {
			if key, ok := k.keys[kid]; ok {
				return key, nil // keep serving the cached key while the issuer is unreachable
			}
			return nil, err
		}
		k.keys, k.fetchedAt = keys, now
	}
	if key, ok := k.keys[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("token signed with unknown key %q", kid)
}

func (k *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discURL := strings.TrimRight(k.issuer, "/") + "/.well-known/openid-configuration"
	if err := k.getJSON(ctx, discURL, &disc); err != nil {
		return nil, fmt.Errorf("issuer discovery: %w", err)
	}
	if disc.JWKSURI == "" {
		return nil, fmt.Errorf("issuer discovery %s: no jwks_uri", discURL)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := k.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, fmt.Errorf("issuer keys: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, jk := range set.Keys {
		if jk.Kty != "RSA" || (jk.Use != "" && jk.Use != "sig") {
			continue
		}
		pk, err := rsaKey(jk.N, jk.E)
		if err != nil {
			return nil, fmt.Errorf("issuer key %q: %w", jk.Kid, err)
		}
		keys[jk.Kid] = pk
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("issuer %s publishes no RSA signing keys", k.issuer)
	}
	return keys, nil
}

func (k *keySet) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	exp := new(big.Int).SetBytes(eb)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("bad exponent")
	}
	pk := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(exp.Int64())}
	if pk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("key too short (%d bits)", pk.N.BitLen())
	}
	return pk, nil
}
