package registryauth

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Scope is the OAuth2 scope of the access tokens.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// Username is the Basic username sent with an access token (Artifact Registry's documented form; the registry does
// not insist on it, §4.2.7).
const Username = "oauth2accesstoken"

// Keychain resolves the configured registry host to Google credentials and any other host to Anonymous.
type Keychain struct {
	host string
	find func(context.Context) (oauth2.TokenSource, error)

	mu  sync.Mutex
	src oauth2.TokenSource // nil until credentials were found
}

var _ authn.Keychain = (*Keychain)(nil)

// New returns a Keychain for host ("us-central1-docker.pkg.dev", locally "127.0.0.1:18091") whose tokens come from
// google.DefaultTokenSource. Credentials are looked for at the first registry call, not now: the metadata server
// need not answer before then.
func New(host string) *Keychain {
	return NewWithTokenSource(host, func(ctx context.Context) (oauth2.TokenSource, error) {
		return google.DefaultTokenSource(ctx, Scope)
	})
}

// NewWithTokenSource is New with another way to find a token source (tests, other credentials). find is called
// until it succeeds; its token source is then kept (it should cache tokens until they expire, as the default
// credentials' do).
func NewWithTokenSource(host string, find func(context.Context) (oauth2.TokenSource, error)) *Keychain {
	return &Keychain{host: host, find: find}
}

// Resolve implements authn.Keychain.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *Keychain) ResolveContext(_ context.Context, r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() != k.host {
		return authn.Anonymous, nil
	}
	return tokenAuth{k}, nil
}

func (k *Keychain) token(ctx context.Context) (*oauth2.Token, error) {
	k.mu.Lock()
	src := k.src
	if src == nil {
		// The source outlives this call: it must not be bound to a request's context.
		s, err := k.find(context.WithoutCancel(ctx))
		if err != nil {
			k.mu.Unlock()
			return nil, &CredentialsError{Host: k.host, Err: fmt.Errorf("no Google credentials: %w", err)}
		}
		k.src, src = s, s
	}
	k.mu.Unlock()
	tok, err := src.Token()
	if err != nil {
		return nil, &CredentialsError{Host: k.host, Err: fmt.Errorf("Google credentials: %w", err)}
	}
	return tok, nil
}

// tokenAuth is the registry host's authenticator: a fresh (or still valid) access token on every exchange.
type tokenAuth struct{ k *Keychain }

func (a tokenAuth) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

func (a tokenAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	tok, err := a.k.token(ctx)
	if err != nil {
		return nil, err
	}
	return &authn.AuthConfig{Username: Username, Password: tok.AccessToken}, nil
}

// CredentialsError is a failure to get an access token for the registry. It is unavailable in errdefs' terms: the
// registry cannot be reached with credentials until the token source answers again.
type CredentialsError struct {
	Host string
	Err  error
}

func (e *CredentialsError) Error() string { return "registry " + e.Host + ": " + e.Err.Error() }

// Unwrap exposes the cause and the kind (errdefs.ErrUnavailable).
func (e *CredentialsError) Unwrap() []error { return []error{e.Err, errdefs.ErrUnavailable} }
