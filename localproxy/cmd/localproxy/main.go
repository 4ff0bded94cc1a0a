// Command localproxy serves a Docker API socket on the laptop and forwards it to the team's runsock control plane
// over HTTPS/HTTP2 with the user's Google identity token.
//
//	localproxy [flags]          serve (point DOCKER_HOST at unix://SOCKET)
//	localproxy status [flags]   check identity, reachability and versions
//	localproxy sync [flags] CONTAINER   write a container's bind mount changes back now
//	localproxy version
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/runsock/runsock/localproxy/internal/binds"
	"github.com/runsock/runsock/localproxy/internal/config"
	"github.com/runsock/runsock/localproxy/internal/forward"
	"github.com/runsock/runsock/localproxy/internal/ports"
	"github.com/runsock/runsock/localproxy/internal/status"
	"github.com/runsock/runsock/localproxy/internal/tokens"
	"github.com/runsock/runsock/localproxy/internal/upstream"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "status" || args[0] == "version" || args[0] == "serve" || args[0] == "sync") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "version" {
		fmt.Println("localproxy", version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cmd, args); err != nil {
		if !errors.Is(err, status.ErrUnhealthy) {
			fmt.Fprintln(os.Stderr, "localproxy:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	cfg, err := config.Parse("localproxy "+cmd, args)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if cmd == "sync" && serving(cfg.Socket) {
		return syncBinds(ctx, cfg.Socket, nil, cfg.Args) // the running localproxy holds the state: it syncs
	}
	fetch, err := tokenFetcher(ctx, cfg)
	if err != nil {
		return err
	}
	toks := tokens.NewCache(fetch, nil)
	up, err := upstream.New(cfg.URL, cfg.CAFile, toks)
	if err != nil {
		return err
	}
	if cmd == "status" {
		return status.Run(ctx, os.Stdout, status.Check{URL: cfg.URL, Up: up, Tokens: toks, Version: version})
	}
	bm := binds.New(up, binds.Config{Socket: cfg.Socket, StateDir: bindStateDir(cfg), Limit: cfg.BindLimit << 20}, log)
	defer bm.Close()
	if cmd == "sync" {
		return syncBinds(ctx, cfg.Socket, bm, cfg.Args)
	}
	return serve(ctx, cfg, up, bm, log)
}

func tokenFetcher(ctx context.Context, cfg config.Config) (tokens.Fetcher, error) {
	switch {
	case cfg.TokenCommand != "":
		return tokens.Command(cfg.TokenCommand), nil
	case cfg.TokenFile != "":
		return tokens.File(cfg.TokenFile), nil
	}
	return tokens.Google(ctx, tokens.GoogleConfig{Audience: cfg.URL, CredentialsFile: cfg.Credentials, Impersonate: cfg.Impersonate})
}

func serve(ctx context.Context, cfg config.Config, up *upstream.Client, bm *binds.Manager, log *slog.Logger) error {
	pub := ports.New(up, log)
	defer pub.Close()
	pub.ReopenInBackground()
	bm.Start() // write back what containers changed while this localproxy was not running, then follow exits
	proxy := forward.NewWithBinds(up, pub, bm, log)
	defer proxy.Close()
	lns, err := listen(cfg)
	if err != nil {
		return err
	}
	// The socket is protected by its file mode; the TCP listener by refusing what web pages send.
	servers := []*http.Server{{Handler: proxy, ReadHeaderTimeout: 30 * time.Second}}
	if len(lns) > 1 {
		servers = append(servers, &http.Server{Handler: forward.GuardLoopback(proxy), ReadHeaderTimeout: 30 * time.Second})
	}
	errc := make(chan error, len(lns))
	for i, ln := range lns {
		log.Info("serving the Docker API", "addr", ln.Addr().String(), "control_plane", cfg.URL)
		go func() { errc <- servers[i].Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func listen(cfg config.Config) ([]net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if c, err := net.Dial("unix", cfg.Socket); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is in use: another localproxy is running (use --socket)", cfg.Socket)
	}
	_ = os.Remove(cfg.Socket) // stale socket from a previous run
	// The socket carries the user's identity: it is created owner-only (umask), never world-accessible even for
	// the instant before a chmod could narrow it.
	oldMask := syscall.Umask(0o177)
	ln, err := net.Listen("unix", cfg.Socket)
	syscall.Umask(oldMask)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Socket, err)
	}
	if err := os.Chmod(cfg.Socket, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket permissions: %w", err)
	}
	lns := []net.Listener{ln}
	if cfg.TCP != "" {
		host, _, err := net.SplitHostPort(cfg.TCP)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			ln.Close()
			return nil, fmt.Errorf("--tcp %q: only a loopback address is allowed (it carries your identity)", cfg.TCP)
		}
		tln, err := net.Listen("tcp", cfg.TCP)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.TCP, err)
		}
		lns = append(lns, tln)
	}
	return lns, nil
}

// bindStateDir is where this localproxy keeps its binds' state: one directory per socket, so two localproxies of
// one user (two sockets) never write back each other's containers.
func bindStateDir(cfg config.Config) string {
	sum := sha256.Sum256([]byte(cfg.Socket))
	return filepath.Join(cfg.StateDir, "binds", hex.EncodeToString(sum[:6]))
}
