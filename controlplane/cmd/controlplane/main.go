// Command controlplane serves the Docker Engine API on Cloud Run Jobs: it loads the config, builds the parts, and
// serves h2c and HTTP/1.1 (or TLS with h2) on one listener until SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/config"
	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/dockersock"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/images"
	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/controlplane/internal/logs"
	"github.com/runsock/runsock/controlplane/internal/networks"
	"github.com/runsock/runsock/controlplane/internal/store"
	"github.com/runsock/runsock/controlplane/internal/volumes"
)

func main() {
	cfg, err := config.Load(os.Args[1:], nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("controlplane stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, err := store.Open(ctx, cfg.Project, cfg.FirestoreDatabase, cfg.FirestoreEmulatorHost)
	if err != nil {
		return err
	}
	defer st.Close()
	driver, err := cloudrun.New(ctx, cloudrun.Config{Project: cfg.Project, Region: cfg.Region, Endpoint: cfg.RunEndpoint,
		Insecure: cfg.EndpointsInsecure, TaskTimeout: cfg.TaskTimeout, ServiceAccount: cfg.JobServiceAccount, Logger: log,
		VolumesBucket: cfg.VolumesBucket,
		Quotas: cloudrun.Quotas{RunJobsPerMinute: cfg.RunJobsPerMinute, WritesPerMinute: cfg.RunWritesPerMinute,
			ReadsPerMinute: cfg.RunReadsPerMinute, RetryFor: cfg.QuotaRetryFor}, PollSlowMax: cfg.ExecutionPollMax})
	if err != nil {
		return err
	}
	defer driver.Close()
	reader, err := logs.New(ctx, logs.Config{Project: cfg.Project, Endpoint: cfg.LoggingEndpoint, Insecure: cfg.EndpointsInsecure, Logger: log,
		QuotaRetryFor: cfg.QuotaRetryFor})
	if err != nil {
		return err
	}
	defer reader.Close()
	reg := registryOptions(cfg)
	imgs := images.New(st.Client(), imagesConfig(cfg, reg, log), containers.ImageUsage{Store: st})

	agent, err := newAgentParts(cfg, st, reg, log)
	if err != nil {
		return err
	}
	defer agent.Close()
	vols, err := newVolumes(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	nets := networks.New(networks.Options{Store: st, Records: st, Log: log})
	copts := containers.Options{Store: st, Launcher: driver, Images: imgs, Agent: agent.containersAgent(), Sizes: agent.sizes,
		Networks: nets, Logs: livelogs.Source{Live: agent.live, Fallback: logSource{reader}}, Logger: log, Volumes: vols.svc}
	if vols.files != nil {
		copts.Copier = volumes.NewCopier(vols.files, imageTrees{containerfs.NewReader(cfg.RegistryInsecure, reg...)})
	}
	svc := containers.New(copts)
	vols.svc.SetUsers(svc)
	agent.health.svc.Store(svc)
	defer svc.Close()
	nets.SetContainers(svc)
	nets.OnChange(agent.peers.overlay.Changed)
	octx, stopOverlay := context.WithCancel(ctx)
	defer stopOverlay()
	go followEvents(octx, svc, agent.peers.overlay, log)
	commits, err := newCommitter(cfg, agent, imgs, reg)
	if err != nil {
		return err
	}
	sessions := agentsessions.NewSessions(svc, agent.hub, agent.exits, agent.files, commits, log)
	if vols.files != nil {
		sessions.SetVolumeFiles(vols.files)
	}
	defer sessions.Close()
	if err := svc.Resume(ctx); err != nil {
		return fmt.Errorf("resume watchers: %w", err)
	}
	defer startReconcile(cfg, st, driver, svc, log)()
	api := dockerapi.New(dockerapi.Options{Containers: svc, Images: imageBackend{imgs}, Registry: imgs, Volumes: vols.svc, Binds: vols.svc, Networks: nets, Agent: sessions, Logger: log, FirestoreOps: st.OpCounts,
		FirestoreDocWrites: func(prefix string, limit int) any { return st.DocumentWrites(prefix, limit) },
		Info:               dockerapi.Info{Project: cfg.Project, Region: cfg.Region, MaxCPU: containers.MaxCPU, MaxMemory: containers.MaxMemory}})
	handler, authorize, closeIdentity, err := withIdentity(cfg, api, log)
	if err != nil {
		return err
	}
	defer closeIdentity() // after serve has drained: ends a key fetch still running
	// The Docker socket mounted into containers: the same API, acting as each container's owner.
	sock := dockersock.New(dockersock.Options{Records: st, Handler: api, Authorize: authorize, Log: log})
	defer sock.Close()
	agent.dockerAPI.set(sock)
	return serve(ctx, cfg, withAgentLink(agent.grpc, handler), api, agent.hub, log)
}

func serve(ctx context.Context, cfg config.Config, h http.Handler, api *dockerapi.Handler, hub *agentlink.Hub, log *slog.Logger) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(cfg.TLSCert == "")
	srv := &http.Server{Addr: cfg.Addr, Handler: h, Protocols: &protocols, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Bulk uploads (docker cp in) read 1 MiB frames at a time: a 1 MiB stream window (the default) would stall
		// the client on every read. 4 MiB per stream keeps it streaming; memory per stream stays bounded by it.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 4 << 20, MaxReceiveBufferPerConnection: 16 << 20}}
	errc := make(chan error, 1)
	go func() {
		log.Info("listening", "addr", cfg.Addr, "tls", cfg.TLSCert != "", "project", cfg.Project, "region", cfg.Region)
		if cfg.TLSCert != "" {
			errc <- srv.ListenAndServeTLS(cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.ListenAndServe()
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Cloud Run gives 10 s between SIGTERM and SIGKILL: stop accepting, end hijacked streams, drain the rest.
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	hub.Drain() // agents redial (the next instance) and resume their output where it was acknowledged
	api.CloseStreams()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// withIdentity puts the verified caller's Principal in every request's context. It also returns the allow-list's
// check of an email (nil in identity mode none: everyone is allowed) and a close that ends the verifier's key fetch,
// if one runs.
func withIdentity(cfg config.Config, next http.Handler, log *slog.Logger) (http.Handler, func(string) (identity.Principal, error), func(), error) {
	if cfg.IdentityMode == "none" {
		log.Warn("identity mode none: every caller is the dev user", "user", cfg.DevUser)
		p := identity.Principal{Email: cfg.DevUser, Admin: true}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identity.WithPrincipal(r.Context(), p)))
		}), nil, func() {}, nil
	}
	var emails, domains []string
	for _, a := range cfg.Allow {
		switch {
		case len(a) > 0 && a[0] == '@':
			domains = append(domains, a[1:])
		case !strings.Contains(a, "@"):
			domains = append(domains, a)
		default:
			emails = append(emails, a)
		}
	}
	audiences := []string{cfg.Audience}
	if identity.Mode(cfg.IdentityMode) == identity.ModeCloudRun {
		audiences = append(audiences, identity.GcloudAudience)
	}
	v, err := identity.NewVerifier(identity.Config{Mode: identity.Mode(cfg.IdentityMode), Issuer: cfg.OIDCIssuer,
		Audiences: audiences, AllowEmails: emails, AllowDomains: domains, Admins: cfg.Admins,
		AgentOnly: agentOnly(cfg), Logger: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("identity: %w", err)
	}
	return v.Middleware(next), v.Authorize, v.Close, nil
}

// agentOnly are the identities that reach only the agent link: the jobs' service account.
func agentOnly(cfg config.Config) []string {
	var out []string
	for _, sa := range []string{cfg.AgentServiceAccount, cfg.JobServiceAccount} {
		if sa != "" {
			out = append(out, sa)
		}
	}
	return out
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && cfg.LogFormat == "json" {
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity" // Cloud Logging's structured format
				if a.Value.Any().(slog.Level) == slog.LevelWarn {
					a.Value = slog.StringValue("WARNING")
				}
			}
		}
		return a
	}}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// followEvents runs the overlay on the containers' live events, subscribing again whenever the subscription ends
// (a subscriber too slow is dropped by the event bus) until ctx ends.
func followEvents(ctx context.Context, svc *containers.Service, o *networks.Overlay, log *slog.Logger) {
	for ctx.Err() == nil {
		_, events, err := svc.Events(ctx, "", time.Time{}, time.Time{})
		if err != nil {
			log.Warn("overlay: subscribe to events", "err", err)
		} else {
			o.Run(ctx, events)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
