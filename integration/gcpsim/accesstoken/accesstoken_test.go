package accesstoken

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMintVerify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	keyFile := filepath.Join(t.TempDir(), "key")
	iss, err := New(keyFile, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint("cp@p.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Value, "ya29.") || !tok.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("token %+v", tok)
	}
	// A restarted issuer with the same key file verifies it.
	again, err := New(keyFile, clock)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Verify(tok.Value)
	if err != nil || got.Email != "cp@p.iam.gserviceaccount.com" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	other, _ := New("", clock)
	for name, bad := range map[string]string{
		"no prefix":    strings.TrimPrefix(tok.Value, "ya29."),
		"tampered":     tok.Value[:len(tok.Value)-2] + "xx",
		"other key":    mustMint(t, other, "x@y"),
		"not a token":  "ya29.nonsense",
		"empty":        "",
		"swapped body": "ya29." + strings.SplitN(mustMint(t, other, "x@y")[5:], ".", 2)[0] + "." + strings.SplitN(tok.Value[5:], ".", 2)[1],
	} {
		if _, err := iss.Verify(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	now = now.Add(time.Hour)
	if _, err := iss.Verify(tok.Value); !errors.Is(err, ErrExpired) {
		t.Errorf("after an hour: err = %v, want ErrExpired", err)
	}
}

func mustMint(t *testing.T, i *Issuer, email string) string {
	t.Helper()
	tok, err := i.Mint(email)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}
