package identity

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	// keysMaxAge is how long a fetched key set is served before a background refresh starts. The cached keys are
	// still served while it runs, and after it fails.
	keysMaxAge = time.Hour
	// keysMinRefetch bounds the fetches caused by unknown key IDs and stale sets: a stream of tokens with made-up
	// kids costs at most one fetch per interval.
	keysMinRefetch = 30 * time.Second
	// keysRetry bounds fetches while no key set was ever fetched (the issuer was down when the first tokens came).
	keysRetry = time.Second
	// fetchTimeout bounds one fetch: discovery and key set.
	fetchTimeout = 10 * time.Second
	// maxDocBytes caps discovery documents and key sets.
	maxDocBytes = 1 << 20
	// minRSABits refuses issuer keys too short to trust.
	minRSABits = 2048
)

// signingAlgs are the token signatures accepted: Google's and gcpsim's ID tokens are RS256.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256}

// keySet is the oidc.KeySet of one issuer, shaped so that no request waits on the issuer when it need not:
//   - a token whose key ID is cached is checked at once, while a fetch runs and after fetches failed;
//   - a cache older than keysMaxAge is refreshed in the background (the request that notices does not wait);
//   - a token with an unknown key ID (the issuer rotated) waits for a fetch, the running one if any, shared by every
//     waiter; a new fetch starts at most once per keysMinRefetch, otherwise the token is refused at once.
//
// go-oidc's RemoteKeySet is not used: it keeps keys forever, fetches again for every unknown kid (or bad signature)
// with no bound, and reads bodies without a limit.
//
// Fetches run in goroutines the keySet owns, one at a time, each bounded by fetchTimeout; close cancels and waits.
type keySet struct {
	issuer string
	client *http.Client
	now    func() time.Time
	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	keys      map[string]*jose.JSONWebKey // nil until a fetch succeeds
	fetchedAt time.Time
	triedAt   time.Time     // when the last fetch started
	fetching  chan struct{} // closed when the running fetch ends; nil when none runs
	lastErr   error         // of the last fetch
}

var _ oidc.KeySet = (*keySet)(nil)

func newKeySet(issuer string, client *http.Client, now func() time.Time) *keySet {
	lc := *client
	lc.Transport = limitBodies{rt: client.Transport}
	ctx, cancel := context.WithCancel(context.Background())
	return &keySet{issuer: issuer, client: &lc, now: now, ctx: ctx, cancel: cancel}
}

// VerifySignature implements oidc.KeySet: it checks raw's signature with the issuer key its kid names.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	key, wait := k.lookup(kid, true)
	if key == nil && wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the issuer's keys: %w", ctx.Err())
		}
		key, _ = k.lookup(kid, false)
	}
	if key == nil {
		return nil, k.unknown(kid)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("bad token signature: %w", err)
	}
	return payload, nil
}

// lookup returns the cached key for kid. Without one, when mayFetch, it returns a channel to wait on: the running
// fetch's, or a new one's when the bounds allow. A stale cache starts a background fetch and is served meanwhile.
func (k *keySet) lookup(kid string, mayFetch bool) (*jose.JSONWebKey, <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if key := k.keys[kid]; key != nil {
		if now.Sub(k.fetchedAt) >= keysMaxAge && now.Sub(k.triedAt) >= keysMinRefetch {
			k.startLocked(now)
		}
		return key, nil
	}
	if !mayFetch {
		return nil, nil
	}
	if k.fetching != nil {
		return nil, k.fetching
	}
	interval := keysMinRefetch
	if k.keys == nil {
		interval = keysRetry
	}
	if k.triedAt.IsZero() || now.Sub(k.triedAt) >= interval {
		return nil, k.startLocked(now)
	}
	return nil, nil
}

func (k *keySet) unknown(kid string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil && k.lastErr != nil {
		return fmt.Errorf("issuer keys unavailable: %w", k.lastErr)
	}
	return fmt.Errorf("token signed with unknown key %q", kid)
}

// startLocked starts a fetch unless one runs or the set is closed, and returns the channel closed when it ends
// (nil when closed).
func (k *keySet) startLocked(now time.Time) <-chan struct{} {
	if k.fetching != nil {
		return k.fetching
	}
	if k.ctx.Err() != nil {
		return nil
	}
	done := make(chan struct{})
	k.fetching, k.triedAt = done, now
	k.wg.Add(1)
	go k.refresh(done)
	return done
}

func (k *keySet) refresh(done chan struct{}) {
	defer k.wg.Done()
	ctx, cancel := context.WithTimeout(k.ctx, fetchTimeout)
	keys, err := k.fetch(ctx)
	cancel()
	k.mu.Lock()
	if err == nil {
		k.keys, k.fetchedAt = keys, k.now()
	}
	k.lastErr, k.fetching = err, nil
	k.mu.Unlock()
	close(done)
}

// close cancels a running fetch and waits for it; later lookups serve the cache and start none.
func (k *keySet) close() {
	k.mu.Lock()
	k.cancel()
	k.mu.Unlock()
	k.wg.Wait()
}

// fetch discovers the issuer's jwks_uri (go-oidc checks that the document names exactly this issuer) and reads its
// RSA signing keys.
func (k *keySet) fetch(ctx context.Context) (map[string]*jose.JSONWebKey, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, k.client), k.issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer discovery: %w", err)
	}
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&disc); err != nil || disc.JWKSURI == "" {
		return nil, fmt.Errorf("issuer discovery: %s names no jwks_uri", k.issuer)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, disc.JWKSURI, nil)
	if err != nil {
		return nil, fmt.Errorf("issuer keys: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("issuer keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("issuer keys: GET %s: %s", disc.JWKSURI, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("issuer keys: GET %s: %w", disc.JWKSURI, err)
	}
	keys := make(map[string]*jose.JSONWebKey, len(set.Keys))
	for _, raw := range set.Keys {
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(raw); err != nil {
			continue // RFC 7517 §5: keys of kinds not understood are ignored, not fatal to the set
		}
		pk, ok := jk.Key.(*rsa.PublicKey)
		if !ok || !jk.Valid() || (jk.Use != "" && jk.Use != "sig") || (jk.Algorithm != "" && jk.Algorithm != string(jose.RS256)) ||
			pk.N.BitLen() < minRSABits {
			continue
		}
		keys[jk.KeyID] = &jk
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("issuer %s publishes no RSA signing keys", k.issuer)
	}
	return keys, nil
}

// limitBodies caps every response body at maxDocBytes: discovery and key sets are small, and go-oidc reads the
// discovery document whole.
type limitBodies struct{ rt http.RoundTripper }

func (l limitBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	rt := l.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxDocBytes), resp.Body}
	return resp, nil
}
