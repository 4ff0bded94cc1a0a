package link

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// RefreshMargin is how long before its expiry a cached identity token is replaced, so a stream never opens with a
// token that expires on the way (metadata tokens live 1 h; Google's own clients refresh 5 min early).
const RefreshMargin = 5 * time.Minute

// unknownExpiry is how long a token whose expiry cannot be read is reused.
const unknownExpiry = time.Minute

// tokenCache hands out the identity token for one audience, fetching a new one when the cached one is within
// RefreshMargin of its expiry. Safe for concurrent use; concurrent callers share one fetch.
type tokenCache struct {
	fetch    func(ctx context.Context, audience string) (string, error)
	audience string
	now      func() time.Time

	mu  sync.Mutex
	tok string
	exp time.Time
}

func (c *tokenCache) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.tok != "" && now.Before(c.exp.Add(-RefreshMargin)) {
		return c.tok, nil
	}
	tok, err := c.fetch(ctx, c.audience)
	if err != nil {
		return "", err
	}
	c.tok, c.exp = tok, expiry(tok, now)
	return tok, nil
}

// expiry reads a JWT's exp without verifying it (the control plane's front end does); an unreadable token counts
// as valid for RefreshMargin + unknownExpiry.
func expiry(tok string, now time.Time) time.Time {
	fallback := now.Add(RefreshMargin + unknownExpiry)
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return fallback
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err != nil || json.Unmarshal(b, &claims) != nil || claims.Exp == 0 {
		return fallback
	}
	return time.Unix(claims.Exp, 0)
}

// serverlessAuth presents the identity token on every gRPC stream the way Cloud Run's front end reads it:
// x-serverless-authorization: Bearer <token>, fetched per stream through the cache, so a link that outlives its
// first token still opens new sessions.
type serverlessAuth struct{ cache *tokenCache }

func (a serverlessAuth) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := a.cache.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity token: %w", err)
	}
	return map[string]string{linkproto.MDServerlessAuth: "Bearer " + tok}, nil
}

// RequireTransportSecurity is false: tests link over h2c; on Cloud Run the URL is https.
func (serverlessAuth) RequireTransportSecurity() bool { return false }
