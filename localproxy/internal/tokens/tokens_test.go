package tokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func jwt(email string, exp time.Time) string {
	p, _ := json.Marshal(map[string]any{"email": email, "aud": "https://cp.test", "exp": exp.Unix()})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(p) + ".c2ln"
}

// TestCommandRefreshesBeforeExpiry runs a real token command that counts its runs in a file.
func TestCommandRefreshesBeforeExpiry(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1_800_000_000, 0)
	tok := jwt("alice@example.com", start.Add(time.Hour))
	script := filepath.Join(dir, "tok.sh")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\necho run >> %s/count\necho '  %s  '\n", dir, tok)), 0o755)
	now := start
	c := NewCache(Command(script), func() time.Time { return now })
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "count"))
		return strings.Count(string(b), "run")
	}
	steps := []struct {
		at       time.Duration
		wantRuns int
	}{
		{0, 1},
		{30 * time.Minute, 1},                // cached
		{54*time.Minute + 59*time.Second, 1}, // still more than 5 min left
		{55 * time.Minute, 2},                // within 5 min of exp: re-run
	}
	for _, s := range steps {
		now = start.Add(s.at)
		got, err := c.Token(context.Background())
		if err != nil || got != tok {
			t.Fatalf("at %s: token %q, %v (want trimmed output)", s.at, got, err)
		}
		if n := runs(); n != s.wantRuns {
			t.Fatalf("at %s: command ran %d times, want %d", s.at, n, s.wantRuns)
		}
	}
	c.Invalidate()
	c.Token(context.Background())
	if runs() != 3 {
		t.Fatal("Invalidate did not force a new run")
	}
}

func TestShortLivedTokensRefreshAtHalfLife(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	n := 0
	c := NewCache(func(context.Context) (string, error) { n++; return jwt("a@b.c", start.Add(2*time.Minute)), nil },
		func() time.Time { return start })
	c.Token(context.Background())
	c.Token(context.Background())
	if n != 1 {
		t.Fatalf("fetched %d times for a 2-minute token, want 1 (refresh at half-life, not every call)", n)
	}
}

func TestCommandFailureSaysWhy(t *testing.T) {
	_, err := NewCache(Command("echo 'not logged in' >&2; exit 3"), nil).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseClaims(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	c, err := ParseClaims(jwt("alice@example.com", exp))
	if err != nil || c.Email != "alice@example.com" || !c.Expiry.Equal(exp) || c.Audience != "https://cp.test" {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := ParseClaims("opaque"); err == nil {
		t.Fatal("opaque token parsed")
	}
}
