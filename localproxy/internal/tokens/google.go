package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
)

// GoogleConfig selects Google credentials.
type GoogleConfig struct {
	// Audience is the control plane's URL.
	Audience string
	// CredentialsFile is a credentials JSON file ("" = Application Default Credentials).
	CredentialsFile string
	// Impersonate is a service account email to impersonate with the base credentials ("" = none).
	Impersonate string
}

// Google returns a Fetcher for cfg: impersonation when asked; idtoken for service-account credentials (file, ADC or
// the metadata server); gcloud for user (authorized_user) credentials, which idtoken refuses, and when no
// credentials are found at all.
func Google(ctx context.Context, cfg GoogleConfig) (Fetcher, error) {
	var opts []option.ClientOption
	if cfg.CredentialsFile != "" {
		opts = append(opts, option.WithCredentialsFile(cfg.CredentialsFile))
	}
	if cfg.Impersonate != "" {
		ts, err := impersonate.IDTokenSource(ctx, impersonate.IDTokenConfig{
			Audience: cfg.Audience, TargetPrincipal: cfg.Impersonate, IncludeEmail: true,
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("impersonating %s: %w", cfg.Impersonate, err)
		}
		return oauthFetcher(ts.Token), nil
	}
	if credType(cfg.CredentialsFile) == "authorized_user" {
		return Gcloud(), nil
	}
	var idopts []idtoken.ClientOption
	if cfg.CredentialsFile != "" {
		idopts = append(idopts, idtoken.WithCredentialsFile(cfg.CredentialsFile))
	}
	ts, err := idtoken.NewTokenSource(ctx, cfg.Audience, idopts...)
	if err != nil && cfg.CredentialsFile == "" {
		return Gcloud(), nil // no service-account credentials around: a person with gcloud
	}
	if err != nil {
		return nil, fmt.Errorf("service-account identity token (for user accounts run `gcloud auth login`): %w", err)
	}
	return oauthFetcher(ts.Token), nil
}

func oauthFetcher(token func() (*oauth2.Token, error)) Fetcher {
	return func(context.Context) (string, error) {
		t, err := token()
		if err != nil {
			return "", fmt.Errorf("google identity token: %w", err)
		}
		return t.AccessToken, nil
	}
}

// credType returns the "type" of the credentials file, or of Application Default Credentials when file is "".
// "" when there is no file (the metadata server, on Google Cloud).
func credType(file string) string {
	if file == "" {
		file = os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	if file == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			file = filepath.Join(dir, "gcloud", "application_default_credentials.json")
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var c struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Type
}
