package config

import (
	"strings"
	"testing"
)

func TestControlPlaneURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		wantErr string
	}{
		{url: "https://runsock-123.us-central1.run.app"},
		{url: "http://127.0.0.1:8080"},
		{url: "http://[::1]:8080"},
		{url: "http://localhost:8080"},
		{url: "http://runsock.example.com", wantErr: "only to a loopback address"},
		{url: "http://10.0.0.5:8080", wantErr: "only to a loopback address"},
		{url: "ftp://x", wantErr: "must start with https://"},
		{url: "runsock.example.com", wantErr: "want https://HOST"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := Parse("localproxy", []string{"--url", tc.url, "--socket", "/tmp/x.sock"})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
