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
	if err := fs.Parse(args); err != nil {
		return c, err
	}
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
	if c.Project == "" || c.ProjectNumber == "" || c.Region == "" {
		errs = append(errs, errors.New("--project, --project-number and --region must not be empty"))
	}
	if len(c.Sinks) > 0 || c.SinksFile != "" {
		if c.PubSubEmulator == "" {
			errs = append(errs, errors.New("sinks need --pubsub-emulator (or PUBSUB_EMULATOR_HOST)"))
		}
	}
	return c, errors.Join(errs...)
}
