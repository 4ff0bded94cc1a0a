package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/runsock/runsock/integration/gcpsim/frontend"
	"github.com/runsock/runsock/integration/gcpsim/metadata"
	"github.com/runsock/runsock/integration/gcpsim/pushrelay"
)

// spec parses "key=value;key=value" flag values; list values are comma-separated.
func spec(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// frontendFlag is one --frontend: a simulated Cloud Run service's front end and where it listens.
type frontendFlag struct {
	listen string
	cfg    frontend.Config
}

// parseFrontend reads
// name=N;listen=ADDR;url=URL[,URL];backend=h2c://HOST:PORT|http://HOST:PORT;invoker=MEMBER[,MEMBER];audience=A[,A];
// timeout=DURATION;concurrency=N;queue=DURATION;max-http1-body=BYTES.
func parseFrontend(s string) (frontendFlag, error) {
	m, err := spec(s)
	if err != nil {
		return frontendFlag{}, err
	}
	f := frontendFlag{listen: m["listen"], cfg: frontend.Config{
		Name: m["name"], URLs: list(m["url"]), Backend: m["backend"], Invokers: list(m["invoker"]), Audiences: list(m["audience"]),
	}}
	var errs []error
	if f.listen == "" || f.cfg.Name == "" {
		errs = append(errs, errors.New("name= and listen= are required"))
	}
	for k, d := range map[string]*time.Duration{"timeout": &f.cfg.RequestTimeout, "queue": &f.cfg.QueueTimeout} {
		if v, ok := m[k]; ok {
			if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive duration", k, v))
			}
		}
	}
	if v, ok := m["concurrency"]; ok {
		if f.cfg.Concurrency, err = strconv.Atoi(v); err != nil || f.cfg.Concurrency <= 0 {
			errs = append(errs, fmt.Errorf("concurrency=%q: want a positive number", v))
		}
	}
	if v, ok := m["max-http1-body"]; ok {
		if f.cfg.MaxHTTP1Body, err = strconv.ParseInt(v, 10, 64); err != nil || f.cfg.MaxHTTP1Body <= 0 {
			errs = append(errs, fmt.Errorf("max-http1-body=%q: want a positive number of bytes", v))
		}
	}
	return f, errors.Join(errs...)
}

// relayFlag is one --push-relay: listen=ADDR;target=URL;sa=EMAIL;audience=A;ca=PEMFILE.
type relayFlag struct {
	listen, ca string
	cfg        pushrelay.Config
}

func parseRelay(s string) (relayFlag, error) {
	m, err := spec(s)
	if err != nil {
		return relayFlag{}, err
	}
	r := relayFlag{listen: m["listen"], ca: m["ca"], cfg: pushrelay.Config{Target: m["target"], ServiceAccount: m["sa"], Audience: m["audience"]}}
	if r.listen == "" || r.cfg.Target == "" || r.cfg.ServiceAccount == "" {
		return r, errors.New("listen=, target= and sa= are required")
	}
	return r, nil
}

// startFrontends builds every front end and push relay; each is served by the caller.
func startFrontends(cfg config, md *metadata.Server, log *slog.Logger) ([]*http.Server, []net.Listener, error) {
	var servers []*http.Server
	var listeners []net.Listener
	fail := func(err error) ([]*http.Server, []net.Listener, error) {
		for _, l := range listeners {
			l.Close()
		}
		return nil, nil, err
	}
	if len(cfg.Frontends) > 0 {
		cert, err := tls.LoadX509KeyPair(cfg.FrontendCert, cfg.FrontendKey)
		if err != nil {
			return fail(fmt.Errorf("front end certificate: %w", err))
		}
		for _, s := range cfg.Frontends {
			f, _ := parseFrontend(s) // validated by loadConfig
			f.cfg.Issuer, f.cfg.Key, f.cfg.Logger = md.Issuer(), md.PublicKey(), log.With("part", "frontend")
			fe, err := frontend.New(f.cfg)
			if err != nil {
				return fail(err)
			}
			l, err := net.Listen("tcp", f.listen)
			if err != nil {
				return fail(fmt.Errorf("front end %s: %w", f.cfg.Name, err))
			}
			p := new(http.Protocols)
			p.SetHTTP1(true)
			p.SetHTTP2(true)
			srv := &http.Server{Handler: fe, Protocols: p, ReadHeaderTimeout: 30 * time.Second,
				HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000, MaxReadFrameSize: 1 << 20},
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
					NextProtos: []string{"h2", "http/1.1"}}}
			servers, listeners = append(servers, srv), append(listeners, tls.NewListener(l, srv.TLSConfig))
		}
	}
	for _, s := range cfg.PushRelays {
		r, _ := parseRelay(s)
		r.cfg.Token, r.cfg.Logger = md.IDToken, log.With("part", "pushrelay")
		if r.ca != "" {
			pem, err := os.ReadFile(r.ca)
			if err != nil {
				return fail(fmt.Errorf("push relay CA: %w", err))
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			r.cfg.Client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
		rl, err := pushrelay.New(r.cfg)
		if err != nil {
			return fail(err)
		}
		l, err := net.Listen("tcp", r.listen)
		if err != nil {
			return fail(fmt.Errorf("push relay: %w", err))
		}
		servers, listeners = append(servers, &http.Server{Handler: rl, ReadHeaderTimeout: 10 * time.Second}), append(listeners, l)
	}
	return servers, listeners, nil
}

// runFrontends serves only the front ends and push relays (--frontends-only), with the signing key of the gcpsim
// whose state dir and issuer it is given, until ctx ends.
func runFrontends(ctx context.Context, cfg config, log *slog.Logger) error {
	if cfg.StateDir == "" {
		return errors.New("--frontends-only needs the --state-dir of the gcpsim that issues the tokens")
	}
	keyFile := statePath(cfg.StateDir, "metadata-key.pem")
	if _, err := os.Stat(keyFile); err != nil {
		return fmt.Errorf("--frontends-only: the issuer's signing key: %w (start the main gcpsim first)", err)
	}
	md, err := metadata.New(metadata.Config{Issuer: cfg.FrontendsOnly, KeyFile: keyFile,
		ProjectID: cfg.Project, ProjectNumber: cfg.ProjectNumber, Region: cfg.Region, Logger: log.With("part", "metadata")})
	if err != nil {
		return err
	}
	servers, listeners, err := startFrontends(cfg, md, log)
	if err != nil {
		return err
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	log.Info("gcpsim front ends ready", "frontends", len(cfg.Frontends), "push_relays", len(cfg.PushRelays))
	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil {
			s.Close()
		}
	}
	return err
}
