package link

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMetadataIdentityTokenAsksAsGoogleClientsDo(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Metadata-Flavor", "Google")
		w.Write([]byte("header.payload.sig\n"))
	}))
	defer srv.Close()
	// The Go metadata client's own override; on Cloud Run it dials 169.254.169.254 instead.
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(srv.URL, "http://"))
	tok, err := MetadataIdentityToken()(context.Background(), "https://cp.example/x")
	if err != nil || tok != "header.payload.sig" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if got.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" ||
		got.URL.Query().Get("audience") != "https://cp.example/x" || got.URL.Query().Get("format") != "full" ||
		got.Header.Get("Metadata-Flavor") != "Google" {
		t.Errorf("request %s %v", got.URL, got.Header)
	}
}
