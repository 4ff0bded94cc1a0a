package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/agentimage"
	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/config"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// agentParts are the agent link (Hub on its own gRPC server), the live logs, and what the containers Service needs
// to start containers with the agent.
type agentParts struct {
	hub   *agentlink.Hub
	grpc  *grpc.Server
	live  *livelogs.Store
	opts  containers.AgentOptions
	creds *lateCredentials
}

// lateCredentials lets the Hub ask the containers Service, which is built after the Hub.
type lateCredentials struct{ svc *containers.Service }

func (l *lateCredentials) AgentCredentials(ctx context.Context, id string) (agentlink.AgentCredentials, error) {
	if l.svc == nil {
		return agentlink.AgentCredentials{}, fmt.Errorf("not ready")
	}
	return l.svc.AgentCredentials(ctx, id)
}

func newAgentParts(cfg config.Config, st *store.Store, reg []remote.Option, log *slog.Logger) (*agentParts, error) {
	p := &agentParts{live: livelogs.New(st.Client(), livelogs.Options{Log: log}), creds: &lateCredentials{},
		grpc: grpc.NewServer()}
	hopts := agentlink.Options{Credentials: p.creds, Logs: p.live, Log: log}
	if cfg.AgentServiceAccount != "" {
		// Behind Cloud Run's front end (cloudrun mode) the agent's token arrives without its signature, so only its
		// payload is read, as for every other caller.
		issuer, mode := cfg.OIDCIssuer, identity.ModeOIDC
		if identity.Mode(cfg.IdentityMode) == identity.ModeCloudRun {
			mode = identity.ModeCloudRun
		} else if issuer == "" {
			issuer = identity.GoogleIssuer
		}
		v, err := identity.NewVerifier(identity.Config{Mode: mode, Issuer: issuer, Audiences: []string{cfg.AgentURL}, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("agent identity: %w", err)
		}
		hopts.Tokens = v
	}
	p.hub = agentlink.New(hopts)
	p.hub.Register(p.grpc)
	if cfg.AgentBinary == "" || cfg.AgentURL == "" {
		log.Warn("containers run without the runsock agent (no -agent-binary or agent URL)")
		return p, nil
	}
	version, err := fileVersion(cfg.AgentBinary)
	if err != nil {
		return nil, err
	}
	layerer, err := agentimage.New(agentimage.Options{Repository: cfg.RegistryHost + "/" + cfg.Project + "/" + cfg.AgentRepo,
		AgentBinary: cfg.AgentBinary, AgentVersion: version, Insecure: cfg.RegistryInsecure, Remote: reg})
	if err != nil {
		return nil, err
	}
	p.opts = containers.AgentOptions{
		Wrap: func(ctx context.Context, image string) (string, error) {
			r, err := layerer.Wrap(ctx, image)
			return r.Image, err
		},
		Link: p.hub, Logs: p.live, URL: cfg.AgentURL, ServiceAccount: cfg.AgentServiceAccount,
	}
	if cfg.AgentCAFile != "" {
		pem, err := os.ReadFile(cfg.AgentCAFile)
		if err != nil {
			return nil, fmt.Errorf("agent CA: %w", err)
		}
		p.opts.CAPEM = string(pem)
	}
	return p, nil
}

// fileVersion is the agent's version for the wrapped-image cache: its content hash, so a new build gives new images.
func fileVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	return "sha256-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// bind connects the Hub to the containers Service: credentials and first-hand exits.
func (p *agentParts) bind(svc *containers.Service) {
	p.creds.svc = svc
	p.hub.OnExit(svc.AgentExited)
}

// withAgentLink sends agents' gRPC requests (HTTP/2, application/grpc) to the Hub's server, before the identity
// middleware: the Hub authenticates agents itself (secret + service account token).
func withAgentLink(g *grpc.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
