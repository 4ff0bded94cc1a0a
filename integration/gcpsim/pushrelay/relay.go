package pushrelay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Relay.
type Config struct {
	// Target is the push endpoint's base URL (the front end of the receiving service). Required.
	Target string
	// ServiceAccount is the push identity whose token is attached. Required.
	ServiceAccount string
	// Audience of the token ("" = the target's scheme://host).
	Audience string
	// Token mints an identity token for email and audience. Required.
	Token func(email, audience string) (string, error)
	// Client reaches the target (nil = a client with a 60 s timeout, the push request timeout's cap).
	Client *http.Client
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// Relay is an http.Handler for the emulator's push requests.
type Relay struct {
	cfg    Config
	target *url.URL
	log    *slog.Logger
}

// New validates cfg and returns a Relay.
func New(cfg Config) (*Relay, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Target, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("pushrelay: target %q: want https://HOST[:PORT]", cfg.Target)
	}
	if cfg.ServiceAccount == "" || cfg.Token == nil {
		return nil, errors.New("pushrelay: a push service account and a token source are required")
	}
	if cfg.Audience == "" {
		cfg.Audience = u.Scheme + "://" + u.Host
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 60 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{cfg: cfg, target: u, log: log}, nil
}

// ServeHTTP forwards one push with the push identity's token and answers with the endpoint's status.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := rl.cfg.Token(rl.cfg.ServiceAccount, rl.cfg.Audience)
	if err != nil {
		rl.log.Error("push relay: token", "err", err)
		http.Error(w, "no token for the push identity", http.StatusInternalServerError)
		return
	}
	u := *rl.target
	u.Path = rl.target.Path + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.ContentLength = r.ContentLength
	for _, k := range []string{"Content-Type", "Ce-Id", "Ce-Source", "Ce-Specversion", "Ce-Type", "Ce-Time"} {
		if v := r.Header.Get(k); v != "" {
			out.Header.Set(k, v)
		}
	}
	out.Header.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
	out.Header.Set("Authorization", "Bearer "+tok)
	resp, err := rl.cfg.Client.Do(out)
	if err != nil {
		rl.log.Warn("push relay: endpoint unreachable", "target", u.String(), "err", err)
		http.Error(w, "push endpoint unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		rl.log.Warn("push relay: endpoint refused the push", "target", u.String(), "status", resp.StatusCode)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}
