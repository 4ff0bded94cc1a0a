package frontend

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultRequestTimeout = 60 * time.Minute // what runsock deploys with; Cloud Run's maximum (fact 2.1)
	DefaultConcurrency    = 1000             // Cloud Run's hard cap per instance (fact 2.5)
	DefaultQueueTimeout   = 10 * time.Second // "or 10 seconds, whichever is greater" (fact 2.6)
	DefaultMaxHTTP1Body   = 32 << 20         // fact 2.12
)

// Config describes one simulated Cloud Run service's front end.
type Config struct {
	// Name is the service's name, for logs.
	Name string
	// URLs are the service's URLs (scheme://host[:port]); each is an accepted audience (facts 1.2.1, 1.2.3). Required.
	URLs []string
	// Audiences are the service's custom audiences, matched exactly (fact 1.2.4).
	Audiences []string
	// Invokers are the IAM members holding roles/run.invoker: user:EMAIL, serviceAccount:EMAIL, domain:DOMAIN.
	// group: members are accepted and never match (gcpsim has no groups).
	Invokers []string
	// Backend is the service's container: h2c://HOST:PORT for end-to-end HTTP/2 (fact 1.4.11) or http://HOST:PORT
	// for an HTTP/1 server. Required.
	Backend string
	// Issuer and Key verify tokens: gcpsim's metadata issuer and its signing key. Required.
	Issuer string
	Key    *rsa.PublicKey
	// RequestTimeout cuts every request, streams included (0 = DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Concurrency is the cap of requests in flight (the service runs one instance; 0 = DefaultConcurrency).
	Concurrency int
	// QueueTimeout is how long a request above the cap waits before 429 (0 = DefaultQueueTimeout).
	QueueTimeout time.Duration
	// MaxHTTP1Body caps request bodies on HTTP/1 (0 = DefaultMaxHTTP1Body).
	MaxHTTP1Body int64
	// Now is the clock for token checks (nil = time.Now).
	Now func() time.Time
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// Frontend is one service's front end: an http.Handler to serve on the service's TLS listener.
type Frontend struct {
	cfg       Config
	audiences map[string]bool
	iam       members
	backend   *url.URL
	h2c       bool
	rt        *http.Transport
	ver       verifier
	slots     chan struct{}
	log       *slog.Logger
}

// New validates cfg and returns the front end.
func New(cfg Config) (*Frontend, error) {
	var problems []error
	if len(cfg.URLs) == 0 {
		problems = append(problems, errors.New("no service URL"))
	}
	if cfg.Issuer == "" || cfg.Key == nil {
		problems = append(problems, errors.New("issuer and key are required"))
	}
	f := &Frontend{cfg: cfg, audiences: map[string]bool{}, log: cfg.Logger}
	for _, u := range cfg.URLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || pu.Host == "" || strings.TrimSuffix(pu.Path, "/") != "" {
			problems = append(problems, fmt.Errorf("service URL %q: want scheme://host[:port]", u))
			continue
		}
		// Only scheme://host is an accepted audience: a path, a trailing slash or a tag URL is unconfirmed
		// (fact 1.2.5), so the stricter reading refuses them.
		f.audiences[pu.Scheme+"://"+pu.Host] = true
	}
	for _, a := range cfg.Audiences {
		f.audiences[a] = true
	}
	var err error
	if f.iam, err = parseMembers(cfg.Invokers); err != nil {
		problems = append(problems, err)
	}
	b, err := url.Parse(cfg.Backend)
	switch {
	case err != nil || b.Host == "":
		problems = append(problems, fmt.Errorf("backend %q: want h2c://HOST:PORT or http://HOST:PORT", cfg.Backend))
	case b.Scheme == "h2c":
		f.h2c = true
	case b.Scheme != "http":
		problems = append(problems, fmt.Errorf("backend %q: scheme must be h2c or http", cfg.Backend))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("frontend %s: %w", cfg.Name, errors.Join(problems...))
	}
	f.backend = &url.URL{Scheme: "http", Host: b.Host}
	if f.cfg.RequestTimeout <= 0 {
		f.cfg.RequestTimeout = DefaultRequestTimeout
	}
	if f.cfg.Concurrency <= 0 {
		f.cfg.Concurrency = DefaultConcurrency
	}
	if f.cfg.QueueTimeout <= 0 {
		f.cfg.QueueTimeout = DefaultQueueTimeout
	}
	if f.cfg.MaxHTTP1Body <= 0 {
		f.cfg.MaxHTTP1Body = DefaultMaxHTTP1Body
	}
	if f.cfg.Now == nil {
		f.cfg.Now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("service", cfg.Name)
	f.ver = verifier{issuer: cfg.Issuer, key: cfg.Key, now: f.cfg.Now}
	f.slots = make(chan struct{}, f.cfg.Concurrency)
	f.rt = &http.Transport{
		DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		IdleConnTimeout: 90 * time.Second,
		// The service's own answer is passed on as it is (gzip stays gzip).
		DisableCompression: true,
		HTTP2:              &http.HTTP2Config{MaxReadFrameSize: 1 << 20},
	}
	p := new(http.Protocols)
	if f.h2c {
		p.SetUnencryptedHTTP2(true) // prior knowledge, as Cloud Run's end-to-end HTTP/2
	} else {
		p.SetHTTP1(true)
	}
	f.rt.Protocols = p
	return f, nil
}

// Close drops idle connections to the backend.
func (f *Frontend) Close() { f.rt.CloseIdleConnections() }

// ServeHTTP admits or refuses a request as Google's front end does, then proxies it to the service.
func (f *Frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ref := f.admit(r); ref != nil {
		f.log.Warn(ref.log, "method", r.Method, "path", r.URL.Path, "status", ref.status)
		ref.write(w, r.URL.Path)
		return
	}
	timer := time.NewTimer(f.cfg.QueueTimeout)
	select {
	case f.slots <- struct{}{}:
		timer.Stop()
	case <-timer.C:
		f.log.Warn(refuseNoInstance.log, "method", r.Method, "path", r.URL.Path, "status", 429)
		refuseNoInstance.write(w, r.URL.Path)
		return
	case <-r.Context().Done():
		timer.Stop()
		return
	}
	defer func() { <-f.slots }()
	f.proxy(w, r)
}

// reservedPath reports paths Cloud Run keeps for itself (fact sheet §1.3: /eventlog, /_ah/*, /healthz as observed;
// "some paths ending in z" beyond /healthz are unconfirmed and delivered).
func reservedPath(p string) bool {
	return p == "/eventlog" || strings.HasPrefix(p, "/_ah/") || p == "/healthz"
}

// admit applies, in order: what never reaches a service (method, reserved paths, Upgrade), the token (fact 1.1),
// IAM, and the HTTP/1 body cap. It returns nil to let the request through, with its headers rewritten.
func (f *Frontend) admit(r *http.Request) *refusal {
	if r.Method == http.MethodTrace || r.Method == http.MethodConnect || reservedPath(r.URL.Path) {
		return &refuseNotFound
	}
	// Upgrade (Docker's hijack, "Upgrade: tcp") is refused: whether it passes is unconfirmed (fact 1.4.13), and
	// WebSockets do not work with end-to-end HTTP/2 (fact 1.4.12). WebSockets to an HTTP/1 service are not simulated.
	if r.Header.Get("Upgrade") != "" || headerHasToken(r.Header, "Connection", "upgrade") {
		return &refuseNotFound
	}
	cred, bad, ok := pickCredential(r.Header)
	if !ok {
		return &refuseNoToken
	}
	if bad != nil {
		return bad
	}
	c, err := f.ver.verify(cred.token)
	if err != nil {
		ref := refuseToken(err.Error())
		return &ref
	}
	if !f.audienceOK(c) {
		ref := refuseToken(fmt.Sprintf("audience %q is not this service's", strings.Join(c.Audience, ",")))
		return &ref
	}
	if c.Email == "" || !c.EmailVerified || !f.iam.invoker(c.Email) {
		return &refuseNotInvoker
	}
	if r.ProtoMajor == 1 || !f.h2c {
		// The 32 MiB cap applies "if using HTTP/1 server"; gcpsim also applies it to HTTP/1 clients of an HTTP/2
		// service, as whether Google does is unconfirmed (fact 2.12; the stricter reading).
		if r.ContentLength > f.cfg.MaxHTTP1Body {
			return &refuseTooLarge
		}
		if r.ContentLength < 0 && r.Body != nil {
			r.Body = &capReader{rc: r.Body, left: f.cfg.MaxHTTP1Body}
		}
	}
	r.Header.Set(cred.header, "Bearer "+stripSignature(cred.token))
	return nil
}

func (f *Frontend) audienceOK(c claims) bool {
	for _, a := range c.Audience {
		if f.audiences[a] || (a == GcloudAudience && !isServiceAccount(c.Email)) {
			return true
		}
	}
	return false
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// errTooLarge ends an HTTP/1 body of unknown length that passes the cap.
var errTooLarge = errors.New("request body over the HTTP/1 limit")

type capReader struct {
	rc   io.ReadCloser
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		c.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.over = true
		return 0, errTooLarge
	}
	return n, err
}

func (c *capReader) Close() error { return c.rc.Close() }

// newTraceIDs returns a 32-hex trace ID and a span ID, for X-Cloud-Trace-Context and traceparent (fact 1.4.5).
func newTraceIDs() (trace string, span uint64) {
	b := make([]byte, 24)
	rand.Read(b)
	for _, x := range b[16:] {
		span = span<<8 | uint64(x)
	}
	return hex.EncodeToString(b[:16]), span>>1 | 1
}
