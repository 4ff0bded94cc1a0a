package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsock/runsock/integration/gcpsim/metadata"
)

// clock is a settable clock, safe to read from the key set's fetch goroutine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// longLived is a token that stays valid however far the tests move the clock.
func longLived(t *testing.T, is *issuer, kid string) string {
	return sign(t, is.key, kid, claimsFor(is.srv.URL, "a@b.c", func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }))
}

// oidcVerifier is an oidc-mode Verifier of is's tokens with clock clk, closed when the test ends.
func oidcVerifier(t *testing.T, is *issuer, clk *clock) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{Mode: ModeOIDC, Issuer: is.srv.URL, Audiences: []string{testAud}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestSlowIssuerDelaysOnlyUnknownKeys: with the issuer's key set endpoint hanging, tokens whose key is cached are
// verified at once (the stale set's refresh runs in the background); tokens naming a new key wait for that same
// fetch, all of them sharing it, or give up when their request ends.
func TestSlowIssuerDelaysOnlyUnknownKeys(t *testing.T) {
	is := newIssuer(t)
	clk := newClock()
	v := oidcVerifier(t, is, clk)
	ctx := context.Background()
	if _, err := v.Verify(ctx, longLived(t, is, "k1")); err != nil {
		t.Fatal(err)
	}

	release := is.stall()
	defer release()
	clk.Add(keysMaxAge) // the cached set is stale: the next token starts a refresh, which hangs
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := v.Verify(ctx, longLived(t, is, "k1")); err != nil {
			t.Fatalf("known key while the issuer hangs: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a token with a cached key waited %s for the issuer", d)
		}
	}
	waitUntil(t, "the background refresh reaches the issuer", func() bool { return is.fetches.Load() == 2 })

	// The issuer rotates in k2; tokens naming it wait for the running fetch, which will bring it.
	is.serve("k1", "k2")
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range cap(errs) {
		wg.Go(func() {
			_, err := v.Verify(ctx, longLived(t, is, "k2"))
			errs <- err
		})
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(short, longLived(t, is, "k2")); err == nil || !strings.Contains(err.Error(), "waiting for the issuer's keys") {
		t.Fatalf("a request that ends while the issuer hangs: err = %v", err)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("new key after the shared fetch: %v", err)
		}
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("key set fetched %d times, want 2 (the first, then one shared by every waiter)", n)
	}
}

// TestUnreachableIssuerKeepsServingCachedKeys: once fetched, keys outlive an issuer that went away.
func TestUnreachableIssuerKeepsServingCachedKeys(t *testing.T) {
	is := newIssuer(t)
	clk := newClock()
	v := oidcVerifier(t, is, clk)
	tok := longLived(t, is, "k1")
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	is.srv.Close()
	for range 3 {
		clk.Add(keysMaxAge)
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("cached key with the issuer gone: %v", err)
		}
	}
	if _, err := v.Verify(context.Background(), longLived(t, is, "k9")); err == nil || !strings.Contains(err.Error(), `unknown key "k9"`) {
		t.Fatalf("unknown key with the issuer gone: %v", err)
	}
}

// TestCloseEndsAHangingFetch: Close cancels the fetch the issuer holds, and no goroutine is left behind.
func TestCloseEndsAHangingFetch(t *testing.T) {
	is := newIssuer(t)
	release := is.stall()
	defer release()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	base := runtime.NumGoroutine()
	v, err := NewVerifier(Config{Mode: ModeOIDC, Issuer: is.srv.URL, Audiences: []string{testAud}, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(short, longLived(t, is, "k1")); err == nil {
		t.Fatal("verified without keys")
	}
	closed := make(chan struct{})
	go func() { v.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close waited for the hanging issuer")
	}
	waitUntil(t, "goroutines are back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
	if _, err := v.Verify(context.Background(), longLived(t, is, "k1")); err == nil {
		t.Fatal("a closed verifier fetched keys")
	}
}

// TestGcpsimIssuer verifies gcpsim's tokens in oidc mode: its discovery document names exactly the issuer it is
// served at, as go-oidc requires, and its key set is read.
func TestGcpsimIssuer(t *testing.T) {
	var sim *metadata.Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sim.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	sim, err := metadata.New(metadata.Config{Issuer: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sim.IDToken("dev@example.com", testAud)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Mode: ModeOIDC, Issuer: ts.URL, Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if email, err := v.Verify(context.Background(), tok); err != nil || email != "dev@example.com" {
		t.Fatalf("gcpsim's token: %q, %v", email, err)
	}
	// The issuer must be named as gcpsim names it: a trailing slash is another issuer.
	w, err := NewVerifier(Config{Mode: ModeOIDC, Issuer: ts.URL + "/", Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if _, err := w.Verify(context.Background(), tok); err == nil {
		t.Fatal("a token verified against an issuer its discovery document does not name")
	}
}
