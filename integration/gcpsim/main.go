// Command gcpsim is the local cloud: Cloud Run Admin API v2 (jobs), Cloud
// Logging v2 and longrunning Operations over gRPC, an Artifact Registry
// shaped OCI registry, a metadata server, and log sinks to the Pub/Sub
// emulator. Tasks run as containers on the Docker Engine at --docker-host.
// See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/logging"
	"github.com/runsock/runsock/integration/gcpsim/metadata"
	"github.com/runsock/runsock/integration/gcpsim/sinks"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := loadConfig(os.Args[1:])
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	runFn := run
	if cfg.FrontendsOnly != "" {
		runFn = runFrontends
	}
	if err := runFn(ctx, cfg, log); err != nil {
		log.Error("gcpsim failed", "err", err)
		os.Exit(1)
	}
}

func statePath(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	var pub logging.Publisher
	if len(cfg.Sinks) > 0 || cfg.SinksFile != "" {
		p, err := newPublisher(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer p.Close()
		pub = p
	}
	logs := logging.New(logging.Config{IngestionDelay: cfg.LogIngestionDelay, Publisher: pub, Logger: log.With("part", "logging"),
		ProjectNumbers: map[string]string{cfg.Project: cfg.ProjectNumber},
		ListsPerMinute: unlimitedIfZero(cfg.Quotas.LogListsPerMinute), TailSessions: unlimitedIfZero(cfg.Quotas.LogTailSessions)})
	defer logs.Close()

	tokens, err := accesstoken.New(statePath(cfg.StateDir, "access-token-key"), nil)
	if err != nil {
		return err
	}
	gcs, removeStorage, err := newStorage(cfg, tokens, log)
	if err != nil {
		return err
	}
	defer removeStorage()
	runner, err := tasks.New(ctx, tasks.Config{
		RegistryAuth: pullAuth(cfg, tokens),
		DockerHost:   cfg.DockerHost, Network: cfg.Network, Subnet: cfg.Subnet, MetadataIP: cfg.MetadataIP,
		StartLatency: cfg.StartLatency, DefaultServiceAccount: cfg.ProjectNumber + "-compute@developer.gserviceaccount.com",
		Logs: logs, Logger: log.With("part", "tasks"),
	})
	if err != nil {
		return err
	}
	defer runner.Close()
	runSvc, err := cloudrun.New(cloudrun.Config{
		Project: cfg.Project, ProjectNumber: cfg.ProjectNumber, StatePath: statePath(cfg.StateDir, "cloudrun.json"),
		MaxJobs: cfg.MaxJobs, MaxRunning: cfg.Quotas.MaxRunning, Logger: log.With("part", "cloudrun"),
		RunJobsPerMinute: unlimitedIfZero(cfg.Quotas.RunJobsPerMinute), WritesPerMinute: unlimitedIfZero(cfg.Quotas.WritesPerMinute),
		ReadsPerMinute: unlimitedIfZero(cfg.Quotas.ReadsPerMin), Buckets: gcs,
	}, runner)
	if err != nil {
		return err
	}
	defer runSvc.Close()
	reg, hub, err := newRegistries(cfg, tokens, log)
	if err != nil {
		return err
	}
	metaAddr := netip.AddrPortFrom(runner.Gateway(), uint16(cfg.MetadataPort)).String()
	md, err := metadata.New(metadata.Config{
		Identity: runner.IdentityOf, Issuer: "http://" + metaAddr,
		ProjectID: cfg.Project, ProjectNumber: cfg.ProjectNumber, Region: cfg.Region,
		KeyFile: statePath(cfg.StateDir, "metadata-key.pem"), Logger: log.With("part", "metadata"),
		HostServiceAccount: cfg.HostServiceAccount, AccessToken: minter(tokens),
	})
	if err != nil {
		return err
	}

	g := grpc.NewServer()
	runSvc.Register(g)
	logs.Register(g)
	grpcL, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	regSrv, regL, err := listenHTTP(cfg.RegistryAddr, reg)
	if err != nil {
		return fmt.Errorf("registry listener: %w", err)
	}
	mdSrv, mdL, err := listenHTTP(metaAddr, md)
	if err != nil {
		return fmt.Errorf("metadata listener: %w", err)
	}
	gcsSrv, gcsL, err := listenHTTP(cfg.StorageAddr, gcs)
	if err != nil {
		return fmt.Errorf("storage listener: %w", err)
	}
	hubSrv, hubL, err := listenHTTP(cfg.DockerHubAddr, hub)
	if err != nil {
		return fmt.Errorf("docker hub listener: %w", err)
	}
	taskMdL, removeMetadataIP, err := listenMetadataIP(cfg.MetadataIP, log)
	if err != nil {
		return err
	}
	defer removeMetadataIP()
	taskMdSrv := &http.Server{Handler: md, ReadHeaderTimeout: 10 * time.Second}
	feSrvs, feLs, err := startFrontends(cfg, md, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 6+len(feSrvs))
	go func() { errc <- gcsSrv.Serve(gcsL) }()
	go func() { errc <- g.Serve(grpcL) }()
	go func() { errc <- regSrv.Serve(regL) }()
	go func() { errc <- mdSrv.Serve(mdL) }()
	go func() { errc <- taskMdSrv.Serve(taskMdL) }()
	go func() { errc <- hubSrv.Serve(hubL) }()
	for i, s := range feSrvs {
		go func() { errc <- s.Serve(feLs[i]) }()
	}
	log.Info("gcpsim ready", "grpc", grpcL.Addr().String(), "registry", regL.Addr().String(), "metadata", mdL.Addr().String(),
		"tasks' metadata", taskMdL.Addr().String(), "dockerhub", hubL.Addr().String(), "storage", gcsL.Addr().String(),
		"network", cfg.Network, "project", cfg.Project, "region", cfg.Region, "frontends", len(cfg.Frontends))

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}
	shutdown(g, append([]*http.Server{regSrv, mdSrv, taskMdSrv, hubSrv, gcsSrv}, feSrvs...)...)
	return err
}

// unlimitedIfZero turns a flag's 0 (unlimited) into the packages' negative (unlimited; their 0 is the default).
func unlimitedIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func newPublisher(ctx context.Context, cfg config, log *slog.Logger) (*sinks.Publisher, error) {
	var all []sinks.Sink
	for _, f := range cfg.Sinks {
		s, err := sinks.ParseFlag(f)
		if err != nil {
			return nil, fmt.Errorf("--sink %q: %w", f, err)
		}
		all = append(all, s)
	}
	if cfg.SinksFile != "" {
		fromFile, err := sinks.LoadFile(cfg.SinksFile)
		if err != nil {
			return nil, err
		}
		all = append(all, fromFile...)
	}
	return sinks.New(ctx, sinks.Config{Sinks: all, Logger: log.With("part", "sinks"), ClientOptions: []option.ClientOption{
		option.WithEndpoint(cfg.PubSubEmulator), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}})
}

func listenHTTP(addr string, h http.Handler) (*http.Server, net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, l, nil
}

// shutdown stops accepting and drains within 10 s, as Cloud Run allows.
func shutdown(g *grpc.Server, servers ...*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.Close()
		}
	}
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop()
	}
}
