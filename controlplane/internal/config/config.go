package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the control plane and its parts. Zero values are documented per field.
type Config struct {
	// Addr is the listen address (default ":$PORT", PORT default 8080).
	Addr string
	// TLSCert and TLSKey are PEM files; both empty = serve h2c and HTTP/1.1 in the clear.
	TLSCert, TLSKey string
	// PublicURL is the control plane's own URL as clients see it ("" = unknown).
	PublicURL string

	Project string
	Region  string
	// FirestoreDatabase is the Firestore database ID (default "(default)").
	FirestoreDatabase string
	// FirestoreEmulatorHost is FIRESTORE_EMULATOR_HOST ("" = Firestore itself). The Firestore library reads the
	// variable too; the store needs it to count writes per document on the emulator.
	FirestoreEmulatorHost string

	// RunEndpoint overrides the Cloud Run Admin API endpoint (gcpsim: "127.0.0.1:18090", insecure gRPC).
	RunEndpoint string
	// LoggingEndpoint overrides the Cloud Logging endpoint (gcpsim: "127.0.0.1:18090").
	LoggingEndpoint string
	// EndpointsInsecure dials the endpoint overrides without TLS or credentials (default true when any override is set).
	EndpointsInsecure bool

	// RegistryHost is the Artifact Registry host ("us-central1-docker.pkg.dev", locally "127.0.0.1:18091").
	RegistryHost string
	// RegistryInsecure talks plain HTTP to RegistryHost (gcpsim).
	RegistryInsecure bool
	// PrivateRegistries are registry hosts ("host", any port, or "host:port") that users may pull from though they
	// are at, or resolve to, a private address (loopback, RFC 1918, link-local, the metadata server...). RegistryHost
	// is always allowed. Empty (default): no other.
	PrivateRegistries []string
	// CaptureLimit is the largest capture of an exited container's changes kept (bytes of file contents; 0 = none
	// are kept). Captures are stored in AgentRepo, as images "files:<container ID>".
	CaptureLimit int64
	// TeamRepo, AgentRepo and DockerHubRepo are repository IDs (defaults "runsock", "runsock-agent", "dockerhub").
	TeamRepo, AgentRepo, DockerHubRepo string

	// VolumesBucket is the Cloud Storage bucket docker volumes are prefixes of ("" = volumes are off: creating one
	// answers 501). StorageEndpoint overrides the Cloud Storage JSON API's URL (gcpsim: "http://127.0.0.1:18098";
	// "" = https://storage.googleapis.com).
	VolumesBucket, StorageEndpoint string

	// TaskTimeout is every execution's task timeout (default 24h, max 168h).
	TaskTimeout time.Duration
	// JobServiceAccount runs the jobs ("" = the project's default compute service account).
	JobServiceAccount string
	// JobIdleGrace is how long an unused Job is kept before it is deleted (default 1h).
	JobIdleGrace time.Duration
	// ReconcileInterval is the time between reconciler passes (default 5m; one also runs at start).
	ReconcileInterval time.Duration
	// RunJobsPerMinute, RunWritesPerMinute and RunReadsPerMinute are the Cloud Run Admin API rate quotas of the
	// project's region that the control plane keeps within (defaults 60, 60, 300: gcpsim's strict reading; raise
	// them with the project's quotas). Flags only. QuotaRetryFor bounds the retries of a call Cloud Run still
	// refuses for a rate quota (default 1m).
	RunJobsPerMinute, RunWritesPerMinute, RunReadsPerMinute int
	QuotaRetryFor                                           time.Duration
	// ExecutionPollMax caps the interval of the backstop poll of running executions once their first seconds are
	// over (default 30s); execution facts from the execution-events function are the fast path.
	ExecutionPollMax time.Duration

	// AgentURL is the URL agents dial (default PublicURL).
	AgentURL string
	// AgentBinary is the path of the static agent binary layered onto images ("" = agent disabled).
	AgentBinary string
	// AgentCAFile is a PEM file of the CA that signed the control plane's certificate, handed to agents ("" = the
	// system roots, as on Cloud Run). A flag only: only the local stack's dev CA needs it.
	AgentCAFile string
	// AgentServiceAccount is the service account whose identity token agents must present (default
	// JobServiceAccount; "" with no JobServiceAccount = tokens not required, the secret alone authenticates).
	// A flag only: on Cloud Run the jobs' service account is set.
	AgentServiceAccount string

	// IdentityMode is "oidc", "cloudrun" or "none" (none only with DevInsecure).
	IdentityMode string
	// DevInsecure allows IdentityMode "none" (every caller is DevUser).
	DevInsecure bool
	// DevUser is the principal's email in mode "none" (default "dev@localhost").
	DevUser string
	// OIDCIssuer is the issuer whose tokens are accepted: its JWKS verifies them in oidc mode; in cloudrun mode it
	// names the issuer the front end verified ("" = https://accounts.google.com; gcpsim's issuer locally).
	OIDCIssuer string
	// Audience is the expected token audience (default PublicURL).
	Audience string
	// Allow lists emails and domains ("@example.com" or "example.com") that may call; empty = anyone verified.
	Allow []string
	// Admins are emails that see every user's objects.
	Admins []string
	// AllowAllInvokers admits every caller Cloud Run's IAM admits when Allow is empty. Required for an empty Allow in
	// cloudrun mode: the jobs' service account holds roles/run.invoker (agents dial back), so without an allow-list
	// the invoker binding alone would not keep code in containers off the Docker API.
	AllowAllInvokers bool

	// LogFormat is "json" (default) or "text".
	LogFormat string
	// LogLevel is "debug", "info" (default), "warn" or "error".
	LogLevel string
}

// env names, one place: EnvNames lists them for the Terraform consistency test.
const (
	envPort              = "PORT"
	envAddr              = "RUNSOCK_LISTEN_ADDR"
	envTLSCert           = "RUNSOCK_TLS_CERT"
	envTLSKey            = "RUNSOCK_TLS_KEY"
	envPublicURL         = "RUNSOCK_PUBLIC_URL"
	envProject           = "RUNSOCK_PROJECT"
	envRegion            = "RUNSOCK_REGION"
	envFirestoreDB       = "RUNSOCK_FIRESTORE_DATABASE"
	envRunEndpoint       = "RUNSOCK_RUN_ENDPOINT"
	envLoggingEndpoint   = "RUNSOCK_LOGGING_ENDPOINT"
	envEndpointsInsecure = "RUNSOCK_ENDPOINTS_INSECURE"
	envRegistryHost      = "RUNSOCK_REGISTRY_HOST"
	envRegistryInsecure  = "RUNSOCK_REGISTRY_INSECURE"
	envPrivateRegistries = "RUNSOCK_PRIVATE_REGISTRIES"
	envTeamRepo          = "RUNSOCK_TEAM_REPO"
	envAgentRepo         = "RUNSOCK_AGENT_REPO"
	envVolumesBucket     = "RUNSOCK_VOLUMES_BUCKET"
	envStorageEndpoint   = "RUNSOCK_STORAGE_ENDPOINT"
	envDockerHubRepo     = "RUNSOCK_DOCKERHUB_REPO"
	envTaskTimeout       = "RUNSOCK_TASK_TIMEOUT"
	envJobSA             = "RUNSOCK_JOB_SERVICE_ACCOUNT"
	envJobIdleGrace      = "RUNSOCK_JOB_IDLE_GRACE"
	envReconcileInterval = "RUNSOCK_RECONCILE_INTERVAL"
	envExecutionPollMax  = "RUNSOCK_EXECUTION_POLL_MAX"
	envAgentURL          = "RUNSOCK_AGENT_URL"
	envAgentBinary       = "RUNSOCK_AGENT_BINARY"
	envIdentityMode      = "RUNSOCK_IDENTITY_MODE"
	envDevInsecure       = "RUNSOCK_DEV_INSECURE"
	envDevUser           = "RUNSOCK_DEV_USER"
	envOIDCIssuer        = "RUNSOCK_OIDC_ISSUER"
	envAudience          = "RUNSOCK_AUDIENCE"
	envAllow             = "RUNSOCK_ALLOW"
	envAdmins            = "RUNSOCK_ADMINS"
	envAllowAllInvokers  = "RUNSOCK_ALLOW_ALL_INVOKERS"
	envLogFormat         = "RUNSOCK_LOG_FORMAT"
	envLogLevel          = "RUNSOCK_LOG_LEVEL"
	// envFirestoreEmulator is read by the Firestore client itself, and by the store's write counter.
	envFirestoreEmulator = "FIRESTORE_EMULATOR_HOST"
)

// EnvNames lists every environment variable the control plane reads.
func EnvNames() []string {
	return []string{envPort, envAddr, envTLSCert, envTLSKey, envPublicURL, envProject, envRegion, envFirestoreDB,
		envRunEndpoint, envLoggingEndpoint, envEndpointsInsecure, envRegistryHost, envRegistryInsecure, envPrivateRegistries, envTeamRepo,
		envAgentRepo, envDockerHubRepo, envTaskTimeout, envJobSA, envJobIdleGrace, envReconcileInterval, envExecutionPollMax, envAgentURL, envAgentBinary,
		envIdentityMode, envDevInsecure, envDevUser, envOIDCIssuer, envAudience, envAllow, envAdmins, envAllowAllInvokers, envLogFormat,
		envLogLevel, envFirestoreEmulator, envVolumesBucket, envStorageEndpoint}
}

// Load parses args (without the program name) with env as the environment (os.Getenv when nil). Flags override env.
func Load(args []string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var c Config
	var problems []error
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envBool := func(name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q: not a boolean", name, v))
		}
		return b
	}
	envDur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q: not a duration", name, v))
		}
		return d
	}
	c.FirestoreEmulatorHost = getenv(envFirestoreEmulator)
	port := env(envPort, "8080")
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "listen", env(envAddr, ":"+port), "listen address ("+envAddr+", default :$PORT)")
	fs.StringVar(&c.TLSCert, "tls-cert", env(envTLSCert, ""), "TLS certificate PEM ("+envTLSCert+")")
	fs.StringVar(&c.TLSKey, "tls-key", env(envTLSKey, ""), "TLS key PEM ("+envTLSKey+")")
	fs.StringVar(&c.PublicURL, "public-url", env(envPublicURL, ""), "the control plane's URL ("+envPublicURL+")")
	fs.StringVar(&c.Project, "project", env(envProject, ""), "Google Cloud project ("+envProject+")")
	fs.StringVar(&c.Region, "region", env(envRegion, ""), "region ("+envRegion+")")
	fs.StringVar(&c.FirestoreDatabase, "firestore-database", env(envFirestoreDB, "(default)"), "Firestore database ("+envFirestoreDB+")")
	fs.StringVar(&c.RunEndpoint, "run-endpoint", env(envRunEndpoint, ""), "Cloud Run Admin API endpoint override ("+envRunEndpoint+")")
	fs.StringVar(&c.LoggingEndpoint, "logging-endpoint", env(envLoggingEndpoint, ""), "Cloud Logging endpoint override ("+envLoggingEndpoint+")")
	insecureDefault := getenv(envRunEndpoint) != "" || getenv(envLoggingEndpoint) != ""
	fs.BoolVar(&c.EndpointsInsecure, "endpoints-insecure", envBool(envEndpointsInsecure, insecureDefault), "dial endpoint overrides without TLS ("+envEndpointsInsecure+")")
	fs.StringVar(&c.RegistryHost, "registry-host", env(envRegistryHost, ""), "Artifact Registry host ("+envRegistryHost+")")
	fs.BoolVar(&c.RegistryInsecure, "registry-insecure", envBool(envRegistryInsecure, false), "plain HTTP to the registry ("+envRegistryInsecure+")")
	privateRegistries := fs.String("private-registries", env(envPrivateRegistries, ""),
		"comma-separated registry hosts (host or host:port) users may pull from at private addresses ("+envPrivateRegistries+")")
	fs.StringVar(&c.TeamRepo, "team-repo", env(envTeamRepo, "runsock"), "team repository ("+envTeamRepo+")")
	fs.StringVar(&c.AgentRepo, "agent-repo", env(envAgentRepo, "runsock-agent"), "agent image repository ("+envAgentRepo+")")
	fs.Int64Var(&c.CaptureLimit, "capture-limit", 256<<20, "largest capture of an exited container's changes kept, in bytes (0 = none)")
	fs.StringVar(&c.DockerHubRepo, "dockerhub-repo", env(envDockerHubRepo, "dockerhub"), "Docker Hub remote repository ("+envDockerHubRepo+")")
	fs.DurationVar(&c.TaskTimeout, "task-timeout", envDur(envTaskTimeout, 24*time.Hour), "task timeout ("+envTaskTimeout+")")
	fs.StringVar(&c.VolumesBucket, "volumes-bucket", env(envVolumesBucket, ""), "Cloud Storage bucket of docker volumes ("+envVolumesBucket+")")
	fs.StringVar(&c.StorageEndpoint, "storage-endpoint", env(envStorageEndpoint, ""), "Cloud Storage JSON API URL override ("+envStorageEndpoint+")")
	fs.StringVar(&c.JobServiceAccount, "job-service-account", env(envJobSA, ""), "jobs' service account ("+envJobSA+")")
	fs.DurationVar(&c.JobIdleGrace, "job-idle-grace", envDur(envJobIdleGrace, time.Hour), "idle job grace period ("+envJobIdleGrace+")")
	fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", envDur(envReconcileInterval, 5*time.Minute), "reconciler interval ("+envReconcileInterval+")")
	fs.DurationVar(&c.ExecutionPollMax, "execution-poll-max", envDur(envExecutionPollMax, 30*time.Second), "backstop poll cap for running executions ("+envExecutionPollMax+")")
	fs.IntVar(&c.RunJobsPerMinute, "run-jobs-per-minute", 60, "Cloud Run RunJob requests per minute to stay within")
	fs.IntVar(&c.RunWritesPerMinute, "run-writes-per-minute", 60, "Cloud Run Admin API write requests per minute to stay within")
	fs.IntVar(&c.RunReadsPerMinute, "run-reads-per-minute", 300, "Cloud Run Admin API read requests per minute to stay within")
	fs.DurationVar(&c.QuotaRetryFor, "quota-retry-for", time.Minute, "how long a call refused for a rate quota is retried")
	fs.StringVar(&c.AgentURL, "agent-url", env(envAgentURL, ""), "URL agents dial ("+envAgentURL+", default public URL)")
	fs.StringVar(&c.AgentCAFile, "agent-ca-file", "", "PEM CA handed to agents for the control plane's certificate")
	fs.StringVar(&c.AgentServiceAccount, "agent-service-account", "", "service account agents' identity tokens must name (default -job-service-account)")
	fs.StringVar(&c.AgentBinary, "agent-binary", env(envAgentBinary, ""), "static agent binary ("+envAgentBinary+")")
	fs.StringVar(&c.IdentityMode, "identity", env(envIdentityMode, "oidc"), "identity mode oidc|cloudrun|none ("+envIdentityMode+")")
	fs.BoolVar(&c.DevInsecure, "dev-insecure", envBool(envDevInsecure, false), "allow identity mode none ("+envDevInsecure+")")
	fs.StringVar(&c.DevUser, "dev-user", env(envDevUser, "dev@localhost"), "principal in identity mode none ("+envDevUser+")")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", env(envOIDCIssuer, ""), "issuer of accepted tokens; oidc mode verifies with its JWKS, cloudrun mode default https://accounts.google.com ("+envOIDCIssuer+")")
	fs.StringVar(&c.Audience, "audience", env(envAudience, ""), "token audience ("+envAudience+", default public URL)")
	allow := fs.String("allow", env(envAllow, ""), "comma-separated emails/domains allowed ("+envAllow+")")
	admins := fs.String("admins", env(envAdmins, ""), "comma-separated admin emails ("+envAdmins+")")
	fs.BoolVar(&c.AllowAllInvokers, "allow-all-invokers", envBool(envAllowAllInvokers, false),
		"with an empty -allow, admit every caller Cloud Run's IAM admits ("+envAllowAllInvokers+")")
	fs.StringVar(&c.LogFormat, "log-format", env(envLogFormat, "json"), "json|text ("+envLogFormat+")")
	fs.StringVar(&c.LogLevel, "log-level", env(envLogLevel, "info"), "debug|info|warn|error ("+envLogLevel+")")
	if err := fs.Parse(args); err != nil {
		problems = append(problems, err)
	}
	explicit := getenv(envEndpointsInsecure) != ""
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "endpoints-insecure" })
	if !explicit {
		c.EndpointsInsecure = c.RunEndpoint != "" || c.LoggingEndpoint != ""
	}
	c.Allow = splitList(*allow)
	c.Admins = splitList(*admins)
	c.PrivateRegistries = splitList(*privateRegistries)
	if c.AgentURL == "" {
		c.AgentURL = c.PublicURL
	}
	if c.AgentServiceAccount == "" {
		c.AgentServiceAccount = c.JobServiceAccount
	}
	if c.Audience == "" {
		c.Audience = c.PublicURL
	}
	problems = append(problems, c.validate()...)
	return c, errors.Join(problems...)
}

func (c *Config) validate() []error {
	var p []error
	if c.Project == "" {
		p = append(p, fmt.Errorf("project is required (-project or %s)", envProject))
	}
	if c.Region == "" {
		p = append(p, fmt.Errorf("region is required (-region or %s)", envRegion))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p = append(p, errors.New("-tls-cert and -tls-key go together"))
	}
	if c.TaskTimeout <= 0 || c.TaskTimeout > 168*time.Hour {
		p = append(p, fmt.Errorf("task timeout %s: must be in (0, 168h]", c.TaskTimeout))
	}
	if c.ReconcileInterval < time.Second {
		p = append(p, fmt.Errorf("reconcile interval %s: must be at least 1s", c.ReconcileInterval))
	}
	if c.RunJobsPerMinute <= 0 || c.RunWritesPerMinute <= 0 || c.RunReadsPerMinute <= 0 || c.QuotaRetryFor < 0 {
		p = append(p, errors.New("-run-jobs-per-minute, -run-writes-per-minute and -run-reads-per-minute must be positive, -quota-retry-for not negative"))
	}
	if c.ExecutionPollMax < time.Second {
		p = append(p, fmt.Errorf("execution poll max %s: must be at least 1s", c.ExecutionPollMax))
	}
	for name, u := range map[string]string{"public URL": c.PublicURL, "agent URL": c.AgentURL, "OIDC issuer": c.OIDCIssuer} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Scheme == "" || pu.Host == "" {
			p = append(p, fmt.Errorf("%s %q: not an absolute URL", name, u))
		}
	}
	for _, h := range c.PrivateRegistries {
		if strings.ContainsAny(h, "/@ ") || strings.Contains(h, "://") {
			p = append(p, fmt.Errorf("private registry %q: want a host or host:port, as in an image reference", h))
		}
	}
	switch c.IdentityMode {
	case "oidc":
		if c.OIDCIssuer == "" {
			p = append(p, fmt.Errorf("identity mode oidc needs -oidc-issuer (%s)", envOIDCIssuer))
		}
		if c.Audience == "" {
			p = append(p, fmt.Errorf("identity mode oidc needs -audience or -public-url (%s)", envAudience))
		}
	case "cloudrun":
		if len(c.Allow) == 0 && !c.AllowAllInvokers {
			p = append(p, fmt.Errorf("identity mode cloudrun needs -allow (%s: the team members and admins): the jobs' service account is an invoker too, so IAM alone does not keep code in containers off the Docker API; set %s=true to admit every invoker anyway",
				envAllow, envAllowAllInvokers))
		}
	case "none":
		if !c.DevInsecure {
			p = append(p, fmt.Errorf("identity mode none needs -dev-insecure (%s=true): it lets anyone in", envDevInsecure))
		}
	default:
		p = append(p, fmt.Errorf("identity mode %q: want oidc, cloudrun or none", c.IdentityMode))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		p = append(p, fmt.Errorf("log format %q: want json or text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	return p
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
