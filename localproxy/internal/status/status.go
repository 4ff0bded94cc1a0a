package status

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/runsock/runsock/localproxy/internal/tokens"
	"github.com/runsock/runsock/localproxy/internal/upstream"
)

// TokenSource supplies the identity token.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Check is what status needs.
type Check struct {
	URL     string
	Up      *upstream.Client
	Tokens  TokenSource
	Version string // localproxy's own version
	Now     func() time.Time
}

// Run prints the status to out and returns an error (already explained in out) when something is wrong.
func Run(ctx context.Context, out io.Writer, c Check) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	fmt.Fprintf(out, "localproxy:     %s\ncontrol plane:  %s\n", c.Version, c.URL)
	tok, err := c.Tokens.Token(ctx)
	if err != nil {
		return fail(out, "identity", fmt.Sprintf("no identity token: %v\n  → user accounts: run `gcloud auth login`; "+
			"service accounts: set GOOGLE_APPLICATION_CREDENTIALS or --impersonate; tests: --token-command/--token-file", err))
	}
	cl, err := tokens.ParseClaims(tok)
	if err != nil {
		return fail(out, "identity", fmt.Sprintf("the token source returned something that is not a JWT (%v)\n  → check --token-command/--token-file", err))
	}
	exp := "no exp claim"
	if !cl.Expiry.IsZero() {
		exp = "token expires " + cl.Expiry.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "identity:       %s (%s)\n", cl.Email, exp)
	if !cl.Expiry.IsZero() && c.Now().After(cl.Expiry) {
		return fail(out, "identity", "the token has expired\n  → refresh it: `gcloud auth login`, or fix the token command/file")
	}
	start := c.Now()
	resp, err := get(ctx, c.Up, "/_ping")
	if err != nil {
		return fail(out, "ping", explainTransport(err, c.URL))
	}
	rtt := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return fail(out, "ping", explainStatus(resp, cl))
	}
	resp.Body.Close()
	fmt.Fprintf(out, "round trip:     %s (/_ping, %s)\n", rtt.Round(100*time.Microsecond), resp.Proto)
	resp, err = get(ctx, c.Up, "/version")
	if err != nil {
		return fail(out, "version", explainTransport(err, c.URL))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(out, "version", explainStatus(resp, cl))
	}
	var v struct{ Version, ApiVersion, Os, Arch string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fail(out, "version", fmt.Sprintf("unreadable /version reply (%v)\n  → is %s a runsock control plane?", err, c.URL))
	}
	fmt.Fprintf(out, "server:         %s (API %s, %s/%s)\nstatus:         OK\n", v.Version, v.ApiVersion, v.Os, v.Arch)
	return nil
}

func get(ctx context.Context, up *upstream.Client, path string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, up.Target(path, "").String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := up.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// ErrUnhealthy is returned by Run after the problem was printed.
var ErrUnhealthy = errors.New("localproxy status: not healthy")

func fail(out io.Writer, step, msg string) error {
	fmt.Fprintf(out, "status:         FAILED at %s: %s\n", step, msg)
	return ErrUnhealthy
}

func explainTransport(err error, url string) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &unknownCA) || errors.As(err, &verify) && errors.As(verify.Err, &unknownCA):
		return fmt.Sprintf("the server's certificate is signed by an unknown CA (%v)\n  → pass --ca-file (local stack: .dev/tls/ca.pem, RUNSOCK_DEV_CA)", err)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the certificate does not match the host (%v)\n  → check --url", err)
	case errors.As(err, &verify):
		return fmt.Sprintf("certificate problem (%v)\n  → check --ca-file and --url", err)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("unknown host (%v)\n  → wrong URL? check --url / RUNSOCK_CONTROL_PLANE_URL (%s)", err, url)
	case errors.As(err, &opErr):
		return fmt.Sprintf("cannot connect (%v)\n  → wrong URL, or the control plane is down? check --url / RUNSOCK_CONTROL_PLANE_URL (%s)", err, url)
	case strings.Contains(err.Error(), "http2"):
		return fmt.Sprintf("the server does not speak HTTP/2 (%v)\n  → is %s the control plane's URL?", err, url)
	}
	return fmt.Sprintf("%v\n  → check --url / RUNSOCK_CONTROL_PLANE_URL (%s)", err, url)
}

func explainStatus(resp *http.Response, cl tokens.Claims) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var m struct{ Message string }
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Sprintf("401 the control plane rejected the token: %s\n  → token audience is %q: it must be the control plane's URL; "+
			"an expired token needs `gcloud auth login`", msg, cl.Audience)
	case http.StatusForbidden:
		return fmt.Sprintf("403 %s is not allowed: %s\n  → you are not an invoker: ask an admin to add you to the team "+
			"(Cloud Run roles/run.invoker, and the control plane's allow-list)", cl.Email, msg)
	case http.StatusNotFound:
		return fmt.Sprintf("404 %s\n  → wrong URL? this server is not a runsock control plane", msg)
	}
	return fmt.Sprintf("%s %s", resp.Status, msg)
}
