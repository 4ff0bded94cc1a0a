package link

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
)

// MetadataIdentityToken returns a Token func that asks the metadata server for the default service account's
// identity token, through Google's Go metadata client with its defaults, as any code on Cloud Run finds it:
// http://169.254.169.254 (Cloud Run's tasks, and gcpsim's), or GCE_METADATA_HOST where that client's override is set
// (tests that run the agent outside a task). Nothing runsock-specific tells the agent where the server is.
func MetadataIdentityToken() func(ctx context.Context, audience string) (string, error) {
	client := metadata.NewClient(&http.Client{Timeout: 5 * time.Second})
	return func(ctx context.Context, audience string) (string, error) {
		tok, err := client.GetWithContext(ctx, "instance/service-accounts/default/identity?format=full&audience="+url.QueryEscape(audience))
		if err != nil {
			return "", fmt.Errorf("metadata identity token: %w", err)
		}
		return strings.TrimSpace(tok), nil
	}
}
