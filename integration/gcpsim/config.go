package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/storage"
)

// config is every setting of gcpsim, read once from flags, with environment
// variables as defaults (GCPSIM_<FLAG>, e.g. GCPSIM_GRPC_ADDR).
type config struct {
	Project, ProjectNumber, Region string
	GRPCAddr, RegistryAddr         string
	MetadataPort                   int
	MetadataIP                     netip.Addr
	DockerHost, Network            string
	Subnet                         netip.Prefix
	StateDir                       string // "" keeps everything in memory
	LogIngestionDelay              time.Duration
	StartLatency                   time.Duration
	Sinks                          []string
	SinksFile                      string
	PubSubEmulator                 string
	MaxJobs                        int
	// Frontends are Google's front ends before simulated Cloud Run services (see frontends.go for the syntax);
	// FrontendCert and FrontendKey are their TLS certificate. PushRelays attach push tokens for the emulator.
	Frontends, PushRelays []string
	// FrontendsOnly, an issuer URL, makes this process serve only the front ends and push relays, verifying and
	// minting tokens with the signing key in the state dir of the gcpsim whose issuer it is. On Google the front end
	// is not the Cloud Run Admin API: stopping the main gcpsim (an Admin API outage) must leave the services reachable.
	FrontendsOnly             string
	FrontendCert, FrontendKey string
	// Artifact Registry: repositories, remote repositories (pulling through from the Docker Hub stand-in at
	// DockerHubAddr), IAM bindings (registry.ParseBinding), and the metadata server's service account for callers
	// on this machine (the control plane).
	RegistryRepos, RegistryRemoteRepos []string
	RegistryIAM                        []string
	DockerHubAddr                      string
	// Cloud Storage: the JSON API's listen address, its buckets and their IAM bindings (storage.ParseBinding).
	StorageAddr        string
	Buckets            []string
	StorageIAM         []string
	HostServiceAccount string
	Quotas             quotas
}

// quotas are the simulated quotas' limits (0 = unlimited for the rates).
type quotas struct {
	MaxRunning                                     int // running executions per project and region
	RunJobsPerMinute, WritesPerMinute, ReadsPerMin int // Cloud Run Admin API, per project and region
	LogListsPerMinute, LogTailSessions             int // Cloud Logging, per project
}

type sinkFlags struct{ v *[]string }

func (s sinkFlags) String() string     { return strings.Join(*s.v, ",") }
func (s sinkFlags) Set(v string) error { *s.v = append(*s.v, v); return nil }

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func loadConfig(args []string) (config, error) {
	var c config
	var subnet, delay, latency, port, maxJobs, mdIP string
	fs := flag.NewFlagSet("gcpsim", flag.ContinueOnError)
	fs.StringVar(&c.Project, "project", env("GCPSIM_PROJECT", "runsock-dev"), "project ID")
	fs.StringVar(&c.ProjectNumber, "project-number", env("GCPSIM_PROJECT_NUMBER", "123456789012"), "project number")
	fs.StringVar(&c.Region, "region", env("GCPSIM_REGION", "us-central1"), "region")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", env("GCPSIM_GRPC_ADDR", "127.0.0.1:18090"), "gRPC listen address (Cloud Run, Operations, Logging)")
	fs.StringVar(&c.RegistryAddr, "registry-addr", env("GCPSIM_REGISTRY_ADDR", "127.0.0.1:18091"), "registry listen address")
	fs.StringVar(&port, "metadata-port", env("GCPSIM_METADATA_PORT", "18092"), "metadata server port, on the task network's gateway")
	fs.StringVar(&mdIP, "metadata-ip", env("GCPSIM_METADATA_IP", "169.254.169.254"), "the metadata server's address as tasks reach it (port 80, metadata.google.internal)")
	fs.StringVar(&c.DockerHost, "docker-host", env("GCPSIM_DOCKER_HOST", "unix:///var/run/docker.sock"), "Docker Engine that runs tasks (DOCKER_HOST is never read)")
	fs.StringVar(&c.Network, "network", env("GCPSIM_NETWORK", "runsock-gcpsim"), "Docker network for tasks")
	fs.StringVar(&subnet, "subnet", env("GCPSIM_SUBNET", "172.31.213.0/24"), "subnet of the task network; the gateway is .1")
	fs.StringVar(&c.StateDir, "state-dir", env("GCPSIM_STATE_DIR", ""), "directory for state kept across restarts; empty: memory only")
	fs.StringVar(&delay, "log-ingestion-delay", env("GCPSIM_LOG_INGESTION_DELAY", "2s"), "delay before a log entry is visible")
	fs.StringVar(&latency, "start-latency", env("GCPSIM_START_LATENCY", "0s"), "delay added before each task starts")
	fs.Var(sinkFlags{&c.Sinks}, "sink", "log sink NAME=FILTER=>TOPIC (repeatable)")
	fs.StringVar(&c.SinksFile, "sinks-file", env("GCPSIM_SINKS_FILE", ""), "file of log sinks")
	fs.StringVar(&c.PubSubEmulator, "pubsub-emulator", env("PUBSUB_EMULATOR_HOST", ""), "Pub/Sub emulator host:port for sinks")
	fs.StringVar(&maxJobs, "max-jobs", env("GCPSIM_MAX_JOBS", "1000"), "jobs allowed per project and region")
	fs.Var(sinkFlags{&c.Frontends}, "frontend", "front end of a Cloud Run service: name=N;listen=ADDR;url=URL;backend=h2c://HOST:PORT;invoker=user:E,serviceAccount:E;... (repeatable)")
	fs.StringVar(&c.FrontendsOnly, "frontends-only", "", "serve only the front ends and push relays, for the gcpsim whose issuer is this URL (its --state-dir)")
	fs.Var(sinkFlags{&c.PushRelays}, "push-relay", "Pub/Sub push relay: listen=ADDR;target=URL;sa=EMAIL[;audience=A][;ca=PEM] (repeatable)")
	fs.StringVar(&c.FrontendCert, "frontend-tls-cert", env("GCPSIM_FRONTEND_TLS_CERT", ""), "TLS certificate (PEM) of the front ends")
	fs.StringVar(&c.FrontendKey, "frontend-tls-key", env("GCPSIM_FRONTEND_TLS_KEY", ""), "TLS key (PEM) of the front ends")
	var repos, remoteRepos string
	fs.StringVar(&repos, "registry-repos", env("GCPSIM_REGISTRY_REPOS", "runsock,runsock-agent"), "Artifact Registry repositories (comma-separated)")
	fs.StringVar(&remoteRepos, "registry-remote-repos", env("GCPSIM_REGISTRY_REMOTE_REPOS", "dockerhub"), "remote repositories pulling through from --dockerhub-addr (comma-separated)")
	fs.Var(sinkFlags{&c.RegistryIAM}, "registry-iam", "repository IAM binding REPO:ROLE=MEMBER[,MEMBER] (repeatable), e.g. runsock:reader=serviceAccount:E")
	fs.StringVar(&c.DockerHubAddr, "dockerhub-addr", env("GCPSIM_DOCKERHUB_ADDR", "127.0.0.1:18097"), "listen address of the Docker Hub stand-in (anonymous registry)")
	var buckets string
	fs.StringVar(&c.StorageAddr, "storage-addr", env("GCPSIM_STORAGE_ADDR", "127.0.0.1:18098"), "Cloud Storage JSON API listen address")
	fs.StringVar(&buckets, "buckets", env("GCPSIM_BUCKETS", ""), "Cloud Storage buckets (comma-separated)")
	fs.Var(sinkFlags{&c.StorageIAM}, "storage-iam", "bucket IAM binding BUCKET:ROLE=MEMBER[,MEMBER] (repeatable), e.g. b:objectUser=serviceAccount:E")
	fs.StringVar(&c.HostServiceAccount, "host-service-account", env("GCPSIM_HOST_SERVICE_ACCOUNT", ""), "metadata server's service account for callers on this machine (the control plane)")
	quotaFlags := []struct {
		name, def, usage string
		v                *int
		zeroOK           bool
	}{
		{"max-running-executions", "1000", "running executions allowed per project and region", &c.Quotas.MaxRunning, false},
		{"run-job-requests-per-minute", "60", "Cloud Run RunJob requests per minute per project and region (0: unlimited)", &c.Quotas.RunJobsPerMinute, true},
		{"write-requests-per-minute", "60", "Cloud Run write requests per minute per project and region (0: unlimited)", &c.Quotas.WritesPerMinute, true},
		{"read-requests-per-minute", "300", "Cloud Run read requests per minute per project and region (0: unlimited)", &c.Quotas.ReadsPerMin, true},
		{"log-list-requests-per-minute", "60", "Cloud Logging entries.list requests per minute per project (0: unlimited)", &c.Quotas.LogListsPerMinute, true},
		{"log-tail-sessions", "10", "Cloud Logging live-tail sessions open at once per project (0: unlimited)", &c.Quotas.LogTailSessions, true},
	}
	quotaValues := make([]string, len(quotaFlags))
	for i, q := range quotaFlags {
		envName := "GCPSIM_" + strings.ToUpper(strings.ReplaceAll(q.name, "-", "_"))
		fs.StringVar(&quotaValues[i], q.name, env(envName, q.def), q.usage)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	isSep := func(r rune) bool { return r == ',' || r == ' ' }
	c.RegistryRepos, c.RegistryRemoteRepos = strings.FieldsFunc(repos, isSep), strings.FieldsFunc(remoteRepos, isSep)
	c.Buckets = strings.FieldsFunc(buckets, isSep)
	var errs []error
	var err error
	if c.Subnet, err = netip.ParsePrefix(subnet); err != nil {
		errs = append(errs, fmt.Errorf("--subnet: %w", err))
	}
	if c.MetadataIP, err = netip.ParseAddr(mdIP); err != nil || !c.MetadataIP.Is4() {
		errs = append(errs, fmt.Errorf("--metadata-ip: want an IPv4 address, got %q", mdIP))
	}
	if c.LogIngestionDelay, err = time.ParseDuration(delay); err != nil {
		errs = append(errs, fmt.Errorf("--log-ingestion-delay: %w", err))
	}
	if c.StartLatency, err = time.ParseDuration(latency); err != nil {
		errs = append(errs, fmt.Errorf("--start-latency: %w", err))
	}
	if c.MetadataPort, err = strconv.Atoi(port); err != nil || c.MetadataPort <= 0 || c.MetadataPort > 65535 {
		errs = append(errs, fmt.Errorf("--metadata-port: invalid port %q", port))
	}
	if c.MaxJobs, err = strconv.Atoi(maxJobs); err != nil || c.MaxJobs <= 0 {
		errs = append(errs, fmt.Errorf("--max-jobs: must be a positive number, got %q", maxJobs))
	}
	for _, b := range c.RegistryIAM {
		if _, err := registry.ParseBinding(b); err != nil {
			errs = append(errs, fmt.Errorf("--registry-iam: %w", err))
		}
	}
	for _, b := range c.StorageIAM {
		if _, err := storage.ParseBinding(b); err != nil {
			errs = append(errs, fmt.Errorf("--storage-iam: %w", err))
		}
	}
	for i, q := range quotaFlags {
		n, err := strconv.Atoi(quotaValues[i])
		if err != nil || n < 0 || (n == 0 && !q.zeroOK) {
			errs = append(errs, fmt.Errorf("--%s: must be a positive number, got %q", q.name, quotaValues[i]))
			continue
		}
		*q.v = n
	}
	if c.Project == "" || c.ProjectNumber == "" || c.Region == "" {
		errs = append(errs, errors.New("--project, --project-number and --region must not be empty"))
	}
	if len(c.Sinks) > 0 || c.SinksFile != "" {
		if c.PubSubEmulator == "" {
			errs = append(errs, errors.New("sinks need --pubsub-emulator (or PUBSUB_EMULATOR_HOST)"))
		}
	}
	for _, f := range c.Frontends {
		if _, err := parseFrontend(f); err != nil {
			errs = append(errs, fmt.Errorf("--frontend %q: %w", f, err))
		}
	}
	for _, r := range c.PushRelays {
		if _, err := parseRelay(r); err != nil {
			errs = append(errs, fmt.Errorf("--push-relay %q: %w", r, err))
		}
	}
	if len(c.Frontends) > 0 && (c.FrontendCert == "" || c.FrontendKey == "") {
		errs = append(errs, errors.New("front ends need --frontend-tls-cert and --frontend-tls-key"))
	}
	return c, errors.Join(errs...)
}
