package link

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MetadataToken returns a Token func that asks the metadata server at host (GCE_METADATA_HOST, or
// metadata.google.internal on Cloud Run) for the default service account's identity token.
func MetadataToken(host string) func(ctx context.Context, audience string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context, audience string) (string, error) {
		u := "http://" + host + "/computeMetadata/v1/instance/service-accounts/default/identity?format=full&audience=" +
			url.QueryEscape(audience)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Metadata-Flavor", "Google")
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("metadata identity token: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		if err != nil {
			return "", fmt.Errorf("metadata identity token: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("metadata identity token: %s", resp.Status)
		}
		return strings.TrimSpace(string(b)), nil
	}
}
