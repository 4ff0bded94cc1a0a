package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	mregistry "github.com/moby/moby/api/types/registry"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/storage"
)

// serviceAgent is the Cloud Run service agent of the project: it pulls the jobs' images. Google grants it
// roles/run.serviceAgent, which reads every repository of its own project (google-front-door.md §4.4.2).
func serviceAgent(cfg config) string {
	return "service-" + cfg.ProjectNumber + "@serverless-robot-prod.iam.gserviceaccount.com"
}

// newRegistries builds the Artifact Registry (authenticated with tokens, IAM from --registry-iam plus the service
// agent's project-wide read) and the Docker Hub stand-in its remote repositories pull through from.
func newRegistries(cfg config, tokens *accesstoken.Issuer, log *slog.Logger) (*registry.Registry, *registry.Upstream, error) {
	bindings := []registry.Binding{{Repository: registry.AllRepositories, Role: "roles/artifactregistry.reader",
		Member: "serviceAccount:" + serviceAgent(cfg)}}
	for _, f := range cfg.RegistryIAM {
		b, err := registry.ParseBinding(f)
		if err != nil {
			return nil, nil, err
		}
		bindings = append(bindings, b...)
	}
	up, err := registry.NewUpstream(statePath(cfg.StateDir, "dockerhub"), log.With("part", "dockerhub"))
	if err != nil {
		return nil, nil, err
	}
	reg, err := registry.New(registry.Config{
		Dir: statePath(cfg.StateDir, "registry"), Project: cfg.Project, Location: cfg.Region,
		Repositories: cfg.RegistryRepos, RemoteRepositories: cfg.RegistryRemoteRepos, Upstream: cfg.DockerHubAddr,
		Bindings: bindings, VerifyAccessToken: verifier(tokens), Logger: log.With("part", "registry"),
	})
	return reg, up, err
}

func verifier(tokens *accesstoken.Issuer) func(string) (string, time.Time, error) {
	return func(tok string) (string, time.Time, error) {
		t, err := tokens.Verify(tok)
		return t.Email, t.Expires, err
	}
}

func minter(tokens *accesstoken.Issuer) func(string) (string, time.Time, error) {
	return func(email string) (string, time.Time, error) {
		t, err := tokens.Mint(email)
		return t.Value, t.Expires, err
	}
}

// pullAuth is the task runner's registry credential: the service agent's access token, minted in-process.
func pullAuth(cfg config, tokens *accesstoken.Issuer) func(context.Context, string) (string, error) {
	return func(context.Context, string) (string, error) {
		t, err := tokens.Mint(serviceAgent(cfg))
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(mregistry.AuthConfig{Username: "oauth2accesstoken", Password: t.Value})
		return base64.URLEncoding.EncodeToString(b), err
	}
}

// newStorage builds Cloud Storage: its buckets in the state dir (or a temporary directory, removed by the returned
// cleanup), authenticated with tokens, IAM from --storage-iam.
func newStorage(cfg config, tokens *accesstoken.Issuer, log *slog.Logger) (*storage.Server, func(), error) {
	dir, cleanup := statePath(cfg.StateDir, "storage"), func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "gcpsim-storage-")
		if err != nil {
			return nil, nil, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	var bindings []storage.Binding
	for _, f := range cfg.StorageIAM {
		b, err := storage.ParseBinding(f)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		bindings = append(bindings, b...)
	}
	s, err := storage.New(storage.Config{Dir: dir, Buckets: cfg.Buckets, Project: cfg.Project, ProjectNumber: cfg.ProjectNumber,
		Location: cfg.Region, Bindings: bindings, VerifyAccessToken: verifier(tokens), Logger: log.With("part", "storage")})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return s, cleanup, nil
}
