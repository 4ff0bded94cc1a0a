package tokens

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Fetcher gets a fresh token.
type Fetcher func(ctx context.Context) (string, error)

// Claims are what localproxy reads from a token (without verifying it: that is the control plane's job).
type Claims struct {
	Email    string
	Audience string
	Expiry   time.Time
}

// ParseClaims decodes the payload of a JWT.
func ParseClaims(tok string) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return Claims{}, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("JWT payload: %w", err)
	}
	var c struct {
		Email string          `json:"email"`
		Aud   json.RawMessage `json:"aud"`
		Exp   int64           `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return Claims{}, fmt.Errorf("JWT payload: %w", err)
	}
	out := Claims{Email: c.Email}
	if c.Exp > 0 {
		out.Expiry = time.Unix(c.Exp, 0)
	}
	var aud string
	if json.Unmarshal(c.Aud, &aud) == nil {
		out.Audience = aud
	} else {
		var auds []string
		if json.Unmarshal(c.Aud, &auds) == nil {
			out.Audience = strings.Join(auds, ",")
		}
	}
	return out, nil
}

const (
	// RefreshMargin is how long before exp a cached token is replaced.
	RefreshMargin = 5 * time.Minute
	// opaqueLifetime is how long a token without a readable exp is reused.
	opaqueLifetime = time.Minute
)

// Cache reuses a token until RefreshMargin before its exp (or half its lifetime, for short-lived tokens).
type Cache struct {
	fetch Fetcher
	now   func() time.Time

	mu        sync.Mutex
	tok       string
	refreshAt time.Time
}

// NewCache wraps fetch. now nil = time.Now.
func NewCache(fetch Fetcher, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{fetch: fetch, now: now}
}

// Token returns a cached token or fetches a new one. Concurrent callers share one fetch.
func (c *Cache) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.tok != "" && now.Before(c.refreshAt) {
		return c.tok, nil
	}
	tok, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", errors.New("token source returned an empty token")
	}
	c.tok, c.refreshAt = tok, refreshTime(tok, now)
	return tok, nil
}

// Invalidate drops the cached token, e.g. after the control plane answered 401.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.tok = ""
	c.mu.Unlock()
}

func refreshTime(tok string, now time.Time) time.Time {
	cl, err := ParseClaims(tok)
	if err != nil || cl.Expiry.IsZero() {
		return now.Add(opaqueLifetime)
	}
	margin := RefreshMargin
	if life := cl.Expiry.Sub(now); life < 2*margin {
		margin = life / 2
	}
	return cl.Expiry.Add(-margin)
}

// Command runs cmdline with sh -c and returns its trimmed output. Stderr is included in the error.
func Command(cmdline string) Fetcher {
	return func(ctx context.Context) (string, error) {
		return run(ctx, "sh", "-c", cmdline)
	}
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("token command %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	tok := strings.TrimSpace(stdout.String())
	if tok == "" {
		return "", fmt.Errorf("token command %s printed nothing", name)
	}
	return tok, nil
}

// File reads a token from path each time the cache needs one, so a rotated file is picked up.
func File(path string) Fetcher {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// Gcloud runs `gcloud auth print-identity-token` for the active gcloud account (user accounts).
func Gcloud() Fetcher {
	return func(ctx context.Context) (string, error) {
		tok, err := run(ctx, "gcloud", "auth", "print-identity-token")
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("gcloud is not installed: install the Google Cloud CLI and run `gcloud auth login`, or pass --token-command: %w", err)
		}
		if err != nil {
			return "", fmt.Errorf("not logged in? run `gcloud auth login`: %w", err)
		}
		return tok, nil
	}
}
