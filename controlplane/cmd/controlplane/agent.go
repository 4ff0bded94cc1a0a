package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/runsock/runsock/controlplane/internal/networks"
	"github.com/runsock/runsock/linkproto"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/container"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/agentimage"
	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/commit"
	"github.com/runsock/runsock/controlplane/internal/config"
	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/images"
	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// agentParts are the agent link (Hub on its own gRPC server, checking agents against creds, handing their exits
// to exits), the live logs, and the lifecycle's side of the agent (nil when containers run without it).
type agentParts struct {
	hub   *agentlink.Hub
	grpc  *grpc.Server
	live  *livelogs.Store
	exits chan agentlink.ExitReport
	agent *agentsessions.Agent
	// files serves the archives of containers that are not running; nil (no interface value) without the agent,
	// which is what applies staged archives.
	files agentsessions.Files
	// sizes tells what a container's files take (prune's report); nil without the agent.
	sizes containers.WritableSizer
	// peers joins the networks' overlay and the hub.
	peers *peerLink
	// health hands agents' healthcheck reports to the containers Service (set once it is built).
	health *healthLink
}

func newAgentParts(cfg config.Config, st *store.Store, reg []remote.Option, log *slog.Logger) (*agentParts, error) {
	creds := agentsessions.NewCredentials(st)
	p := &agentParts{live: livelogs.New(st.Client(), livelogs.Options{Log: log}), exits: make(chan agentlink.ExitReport),
		grpc: grpc.NewServer()}
	p.peers = &peerLink{}
	p.health = &healthLink{}
	hopts := agentlink.Options{Credentials: creds, Logs: p.live, Exits: p.exits, Log: log, Overlay: p.peers, Health: p.health}
	if cfg.AgentServiceAccount != "" {
		v, err := agentTokens(cfg, log)
		if err != nil {
			return nil, err
		}
		hopts.Tokens = v
	}
	p.hub = agentlink.New(hopts)
	p.peers.hub = p.hub
	p.peers.overlay = networks.NewOverlay(st, p.peers, log)
	p.hub.Register(p.grpc)
	if cfg.AgentBinary == "" || cfg.AgentURL == "" {
		log.Warn("containers run without the runsock agent (no -agent-binary or agent URL)")
		return p, nil
	}
	wrap, err := agentWrapper(cfg, reg)
	if err != nil {
		return nil, err
	}
	files := &containerfs.Files{Staging: containerfs.NewStaging(st.Client()), Reader: containerfs.NewReader(cfg.RegistryInsecure, reg...)}
	if cfg.CaptureLimit > 0 {
		caps, err := containerfs.NewCaptures(st.Client(), cfg.RegistryHost+"/"+cfg.Project+"/"+cfg.AgentRepo+"/files",
			cfg.RegistryInsecure, reg...)
		if err != nil {
			return nil, err
		}
		files.Captures, files.Limit = caps, cfg.CaptureLimit
	}
	p.files, p.sizes = files, files
	aopts := agentsessions.AgentOptions{Wrap: wrap, Link: p.hub, Credentials: creds, Logs: p.live, Staged: files.Staging, Restored: files,
		CaptureLimit: cfg.CaptureLimit, URL: cfg.AgentURL, ServiceAccount: cfg.AgentServiceAccount, Logger: log}
	if cfg.AgentCAFile != "" {
		pem, err := os.ReadFile(cfg.AgentCAFile)
		if err != nil {
			return nil, fmt.Errorf("agent CA: %w", err)
		}
		aopts.CAPEM = string(pem)
	}
	p.agent = agentsessions.NewAgent(aopts)
	return p, nil
}

// newCommitter pushes committed containers to the team repository's "commits" image and records them with imgs;
// nil (no interface value) when containers' files are not kept, so docker commit says so.
func newCommitter(cfg config.Config, p *agentParts, imgs *images.Service, reg []remote.Option) (agentsessions.Committer, error) {
	if p.files == nil || cfg.CaptureLimit <= 0 {
		return nil, nil
	}
	return commit.New(cfg.RegistryHost+"/"+cfg.Project+"/"+cfg.TeamRepo+"/commits", cfg.RegistryInsecure, imgs, reg...)
}

// containersAgent is the lifecycle's agent: nil (an interface holding no value) when containers run without it.
func (p *agentParts) containersAgent() containers.Agent {
	if p.agent == nil {
		return nil
	}
	return p.agent
}

// Close ends the Agent's pending work.
func (p *agentParts) Close() {
	if p.agent != nil {
		p.agent.Close()
	}
}

// agentTokens verifies the identity tokens of agents. Behind Cloud Run's front end (cloudrun mode) the agent's token
// arrives without its signature, so only its payload is read, as for every other caller.
func agentTokens(cfg config.Config, log *slog.Logger) (*identity.Verifier, error) {
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
	return v, nil
}

// agentWrapper layers the agent binary onto user images (agentimage), versioned by the binary's content.
func agentWrapper(cfg config.Config, reg []remote.Option) (func(ctx context.Context, image string) (string, error), error) {
	version, err := fileVersion(cfg.AgentBinary)
	if err != nil {
		return nil, err
	}
	layerer, err := agentimage.New(agentimage.Options{Repository: cfg.RegistryHost + "/" + cfg.Project + "/" + cfg.AgentRepo,
		AgentBinary: cfg.AgentBinary, AgentVersion: version, Insecure: cfg.RegistryInsecure, Remote: reg})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, image string) (string, error) {
		r, err := layerer.Wrap(ctx, image)
		return r.Image, err
	}, nil
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

// peerLink joins the networks' Overlay (who reaches whom, on which ports) and the agent link Hub (which reports
// agents' links and ports, relays connections, and carries peers to agents), converting between their types.
type peerLink struct {
	hub     *agentlink.Hub
	overlay *networks.Overlay
}

func (l *peerLink) Linked(id string)             { l.overlay.Linked(id) }
func (l *peerLink) Unlinked(id string)           { l.overlay.Unlinked(id) }
func (l *peerLink) Ports(id string, ports []int) { l.overlay.Ports(id, ports) }
func (l *peerLink) Allowed(from, to string) bool { return l.overlay.Allowed(from, to) }
func (l *peerLink) SendPeers(id string, peers []networks.Peer) error {
	out := make([]linkproto.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, linkproto.Peer{Ref: p.Ref, Addr: p.Addr, Names: p.Names, Ports: p.Ports, Self: p.Self})
	}
	return l.hub.SendPeers(id, out)
}

// healthLink hands agents' healthcheck reports (agentlink) to the containers Service, converting the types. Reports
// arriving before the Service is set are dropped: the agent sends its whole state again after the next probe.
type healthLink struct {
	svc atomic.Pointer[containers.Service]
}

func (l *healthLink) RecordHealth(ctx context.Context, id, execution string, h linkproto.Health) {
	svc := l.svc.Load()
	if svc == nil {
		return
	}
	rep := containers.HealthReport{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak,
		Log: make([]containers.ProbeResult, 0, len(h.Log))}
	for _, r := range h.Log {
		rep.Log = append(rep.Log, containers.ProbeResult{ExecID: r.ExecID,
			HealthResult: containers.HealthResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output}})
	}
	svc.RecordHealth(ctx, id, execution, rep)
}
