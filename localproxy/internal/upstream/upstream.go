package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// TokenHeader carries the identity token. Cloud Run's IAM reads it (before Authorization), and Authorization stays
// free for the Docker client.
const TokenHeader = "X-Serverless-Authorization"

// TokenSource supplies identity tokens; Invalidate is called after the control plane answered 401.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// Client reaches the control plane.
type Client struct {
	base *url.URL
	rt   http.RoundTripper
	tok  TokenSource
}

// New returns a Client for rawURL (https, or http for h2c), trusting caFile's certificates in addition to the system
// pool when caFile is set.
func New(rawURL, caFile string, tok TokenSource) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("control plane URL %q: want https://HOST[:PORT] (set --url or RUNSOCK_CONTROL_PLANE_URL)", rawURL)
	}
	rt, err := NewTransport(u.Scheme, caFile)
	if err != nil {
		return nil, err
	}
	return &Client{base: u, rt: rt, tok: tok}, nil
}

// NewTransport returns an HTTP/2-only transport for scheme.
func NewTransport(scheme, caFile string) (*http.Transport, error) {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		// A ping on a quiet connection finds one that died (laptop sleep, network change) instead of hanging.
		// MaxReadFrameSize: the control plane may send DATA frames up to 1 MiB instead of 16 KiB, so a docker cp out
		// costs it one frame write (and goroutine hand-off) per 1 MiB rather than per 16 KiB.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second, MaxReadFrameSize: 1 << 20},
	}
	p := new(http.Protocols)
	if scheme == "http" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
	}
	t.Protocols = p
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// URL returns the control plane's base URL.
func (c *Client) URL() *url.URL { u := *c.base; return &u }

// Target returns the control plane URL for a local request's path and query.
func (c *Client) Target(path, rawQuery string) *url.URL {
	u := c.URL()
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = rawQuery
	return u
}

// RoundTrip sends req with the identity token. req.URL must already point at the control plane.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := c.tok.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &TokenError{Err: err}
	}
	out := req.Clone(req.Context())
	out.Header.Set(TokenHeader, "Bearer "+tok)
	resp, err := c.rt.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		c.tok.Invalidate()
	}
	frontEndRefusal(resp, tok, c.base.String())
	return resp, nil
}

// TokenError is a failure to get an identity token (not logged in, command failing).
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "identity token: " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }
