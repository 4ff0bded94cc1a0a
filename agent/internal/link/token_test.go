package link

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// jwtExpiring is a token shaped like a JWT whose payload carries exp.
func jwtExpiring(n int, exp time.Time) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d,"n":%d}`, exp.Unix(), n)))
	return "eyJhbGciOiJSUzI1NiJ9." + p + ".sig"
}

func TestTokenCacheRefreshesBeforeExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	fetches := 0
	c := &tokenCache{audience: "https://cp", now: func() time.Time { return now },
		fetch: func(_ context.Context, aud string) (string, error) {
			if aud != "https://cp" {
				t.Errorf("audience %q", aud)
			}
			fetches++
			return jwtExpiring(fetches, now.Add(time.Hour)), nil
		}}
	auth := serverlessAuth{c}
	get := func() string {
		md, err := auth.GetRequestMetadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return md["x-serverless-authorization"]
	}
	first := get()
	if first != "Bearer "+jwtExpiring(1, now.Add(time.Hour)) {
		t.Fatalf("metadata %q", first)
	}
	steps := []struct {
		advance time.Duration
		fetches int
	}{
		{time.Minute, 1},      // 59 min left: cached
		{50 * time.Minute, 1}, // 9 min left: cached
		{4 * time.Minute, 2},  // 5 min left: within the margin, refreshed
		{30 * time.Minute, 2}, // the new token has 35 min left
		{2 * time.Hour, 3},    // a link that outlived its token: a new one for the next stream
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		get()
		if fetches != s.fetches {
			t.Errorf("step %d: %d fetches, want %d", i, fetches, s.fetches)
		}
	}
}

func TestTokenCacheUnreadableExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	fetches := 0
	c := &tokenCache{now: func() time.Time { return now }, fetch: func(context.Context, string) (string, error) {
		fetches++
		return "opaque", nil
	}}
	c.token(context.Background())
	now = now.Add(30 * time.Second)
	c.token(context.Background())
	if fetches != 1 {
		t.Errorf("%d fetches within a minute, want 1", fetches)
	}
	now = now.Add(time.Minute)
	c.token(context.Background())
	if fetches != 2 {
		t.Errorf("%d fetches after a minute, want 2", fetches)
	}
}

func TestTokenCacheFetchError(t *testing.T) {
	c := &tokenCache{now: time.Now, fetch: func(context.Context, string) (string, error) { return "", fmt.Errorf("metadata down") }}
	if _, err := (serverlessAuth{c}).GetRequestMetadata(context.Background()); err == nil {
		t.Error("no error without a token")
	}
}
