package infracheck

import (
	"fmt"
	"sort"
	"strings"
)

// EnvClass says what Terraform must do with one environment variable the control plane reads.
type EnvClass int

const (
	// MustSet: the default is wrong or empty on Cloud Run; the service must set it.
	MustSet EnvClass = iota
	// DefaultOK: the code's default is right on Cloud Run; setting it is allowed.
	DefaultOK
	// MustNotSet: for the local stack only; on Cloud Run it would be wrong or unsafe.
	MustNotSet
)

// EnvRule is the decision for one variable, with the reason a reader can check against config.go.
type EnvRule struct {
	Class  EnvClass
	Reason string
}

// ControlPlaneEnv decides every variable config.EnvNames() lists. A name the config adds that is missing here
// is a problem: someone must decide whether Terraform sets it.
var ControlPlaneEnv = map[string]EnvRule{
	"RUNSOCK_PROJECT":             {MustSet, "required, no default"},
	"RUNSOCK_REGION":              {MustSet, "required, no default"},
	"RUNSOCK_FIRESTORE_DATABASE":  {MustSet, "must name the database Terraform created"},
	"RUNSOCK_PUBLIC_URL":          {MustSet, "default empty; the agent URL and the audience derive from it"},
	"RUNSOCK_AGENT_URL":           {MustSet, "the URL agents dial; default is the public URL, set explicitly"},
	"RUNSOCK_AUDIENCE":            {DefaultOK, "defaults to the public URL"},
	"RUNSOCK_IDENTITY_MODE":       {MustSet, "default oidc needs an issuer; behind Cloud Run IAM it is cloudrun"},
	"RUNSOCK_ADMINS":              {MustSet, "from var.admins"},
	"RUNSOCK_ALLOW":               {MustSet, "the team members and admins: the jobs' account is an invoker too"},
	"RUNSOCK_ALLOW_ALL_INVOKERS":  {MustSet, "true only when a group is a team member (groups cannot be checked in a token)"},
	"RUNSOCK_REGISTRY_HOST":       {MustSet, "no default; REGION-docker.pkg.dev"},
	"RUNSOCK_TEAM_REPO":           {MustSet, "repository IDs follow var.service_name"},
	"RUNSOCK_AGENT_REPO":          {MustSet, "repository IDs follow var.service_name"},
	"RUNSOCK_DOCKERHUB_REPO":      {DefaultOK, "dockerhub, as Terraform names it"},
	"RUNSOCK_JOB_SERVICE_ACCOUNT": {MustSet, "default is the compute default account, far from least privilege"},
	"RUNSOCK_TASK_TIMEOUT":        {MustSet, "from var.task_timeout"},
	"RUNSOCK_VOLUMES_BUCKET":      {MustSet, "default empty turns volumes off; the bucket Terraform created"},
	"RUNSOCK_STORAGE_ENDPOINT":    {MustNotSet, "gcpsim only"},
	"RUNSOCK_JOB_IDLE_GRACE":      {DefaultOK, "1h"},
	"RUNSOCK_RECONCILE_INTERVAL":  {DefaultOK, "5m"},
	"RUNSOCK_EXECUTION_POLL_MAX":  {DefaultOK, "30s"},
	"RUNSOCK_AGENT_BINARY":        {MustSet, "default empty disables the agent; /agent in the image"},
	"RUNSOCK_LOG_FORMAT":          {DefaultOK, "json, Cloud Logging's structured format"},
	"RUNSOCK_LOG_LEVEL":           {DefaultOK, "info"},
	"PORT":                        {MustNotSet, "reserved: Cloud Run sets it from the container port"},
	"RUNSOCK_LISTEN_ADDR":         {DefaultOK, ":$PORT"},
	"RUNSOCK_TLS_CERT":            {MustNotSet, "Cloud Run terminates TLS; the container serves h2c"},
	"RUNSOCK_TLS_KEY":             {MustNotSet, "Cloud Run terminates TLS; the container serves h2c"},
	"RUNSOCK_RUN_ENDPOINT":        {MustNotSet, "gcpsim only"},
	"RUNSOCK_LOGGING_ENDPOINT":    {MustNotSet, "gcpsim only"},
	"RUNSOCK_ENDPOINTS_INSECURE":  {MustNotSet, "gcpsim only"},
	"RUNSOCK_REGISTRY_INSECURE":   {MustNotSet, "gcpsim only"},
	"RUNSOCK_PRIVATE_REGISTRIES":  {DefaultOK, "empty: users pull only from public registries and the configured one"},
	"RUNSOCK_DEV_INSECURE":        {MustNotSet, "lets anyone in"},
	"RUNSOCK_DEV_USER":            {MustNotSet, "identity mode none only"},
	"RUNSOCK_OIDC_ISSUER":         {MustNotSet, "oidc mode only"},
	"FIRESTORE_EMULATOR_HOST":     {MustNotSet, "would point the Firestore client at an emulator"},
}

// Principal names a service account resource of the module.
type Principal string

const (
	ControlPlane Principal = "google_service_account.controlplane"
	Jobs         Principal = "google_service_account.jobs"
	Events       Principal = "google_service_account.events"
)

// Need is one grant a principal must have: role, on target ("" = the project, by a google_project_iam_member).
type Need struct {
	Role   string
	Target string
}

// RolesByAPI says which grants a principal needs once its code calls an API.
var RolesByAPI = map[Principal]map[string][]Need{
	ControlPlane: {
		"run.googleapis.com": {
			{"roles/run.developer", ""},
			{"roles/iam.serviceAccountUser", string(Jobs)},
		},
		"firestore.googleapis.com":        {{"roles/datastore.user", ""}},
		"logging.googleapis.com":          {{"roles/logging.viewer", ""}},
		"pubsub.googleapis.com":           {{"roles/pubsub.subscriber", "google_pubsub_subscription.controlplane_events"}},
		"artifactregistry.googleapis.com": {{"roles/artifactregistry.writer", "google_artifact_registry_repository.agent"}, {"roles/artifactregistry.writer", "google_artifact_registry_repository.team"} /* docker commit */, {"roles/artifactregistry.reader", "google_artifact_registry_repository.dockerhub"}},
		"storage.googleapis.com":          {{"roles/storage.objectUser", "google_storage_bucket.volumes"}},
	},
	Events: {
		"firestore.googleapis.com": {{"roles/datastore.user", ""}},
	},
}

// StaticNeeds are grants that follow from the architecture rather than from an import.
var StaticNeeds = map[Principal][]Need{
	// agents dial back to the control plane with the jobs' identity token
	Jobs: {
		{"roles/run.invoker", "google_cloud_run_v2_service.controlplane"},
		{"roles/artifactregistry.reader", "google_artifact_registry_repository.agent"},
		{"roles/storage.objectUser", "google_storage_bucket.volumes"},
	},
	// the log sink's writer publishes to the events topic
	"google_logging_project_sink.execution_events": {{"roles/pubsub.publisher", "google_pubsub_topic.execution_events"}},
}

// Code is what the code needs, gathered by GoogleAPIs, ControlPlaneEnvNames and FirestoreSchema.
type Code struct {
	ControlPlaneEnv []string               // config.EnvNames()
	FunctionEnv     map[string]bool        // os.Getenv names in functions/
	APIs            map[Principal][]APIUse // per identity that runs the code
	Firestore       Firestore              // store.NeededSchema()
}

// Check holds the module against the code and returns every problem, sorted; none means consistent.
func Check(m *Module, code Code) []string {
	var p []string
	p = append(p, checkEnv(m, code.ControlPlaneEnv)...)
	p = append(p, checkFunctionEnv(m, code.FunctionEnv)...)
	p = append(p, checkAPIs(m, code.APIs)...)
	p = append(p, checkRoles(m, code.APIs)...)
	p = append(p, checkFirestore(m, code.Firestore)...)
	if rp, ok := m.RequiredProviders()["google"]; !ok || rp[0] != "hashicorp/google" || !strings.HasPrefix(rp[1], "~> 6.") {
		p = append(p, fmt.Sprintf("required_providers: google must be hashicorp/google ~> 6.x, have %q", rp))
	}
	sort.Strings(p)
	return p
}

func checkEnv(m *Module, names []string) []string {
	set, err := m.ContainerEnv("controlplane")
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	read := map[string]bool{}
	for _, n := range names {
		read[n] = true
		rule, ok := ControlPlaneEnv[n]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("env %s: the control plane reads it but infracheck.ControlPlaneEnv has no rule for it; decide whether Terraform sets it", n))
		case rule.Class == MustSet && !set[n]:
			p = append(p, fmt.Sprintf("env %s: not set on google_cloud_run_v2_service.controlplane (%s)", n, rule.Reason))
		case rule.Class == MustNotSet && set[n]:
			p = append(p, fmt.Sprintf("env %s: set on google_cloud_run_v2_service.controlplane but must not be (%s)", n, rule.Reason))
		}
	}
	for n := range set {
		if !read[n] {
			p = append(p, fmt.Sprintf("env %s: set on google_cloud_run_v2_service.controlplane but the control plane does not read it", n))
		}
	}
	return p
}

// FunctionMustSet are the variables the function cannot do without on Cloud Run (it has no default project).
var FunctionMustSet = []string{"RUNSOCK_PROJECT"}

func checkFunctionEnv(m *Module, reads map[string]bool) []string {
	set, err := m.ContainerEnv("events")
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	for _, n := range FunctionMustSet {
		if reads[n] && !set[n] {
			p = append(p, fmt.Sprintf("env %s: the function reads it but google_cloud_run_v2_service.events does not set it", n))
		}
	}
	for n := range set {
		if !reads[n] {
			p = append(p, fmt.Sprintf("env %s: set on google_cloud_run_v2_service.events but the function does not read it", n))
		}
	}
	return p
}

func checkAPIs(m *Module, uses map[Principal][]APIUse) []string {
	enabled := m.EnabledAPIs()
	var p []string
	seen := map[string]bool{}
	for _, list := range uses {
		for _, u := range list {
			if !enabled[u.API] && !seen[u.API] {
				seen[u.API] = true
				p = append(p, fmt.Sprintf("api %s: called by %s but not enabled (google_project_service)", u.API, strings.Join(u.By, ", ")))
			}
		}
	}
	return p
}

func checkRoles(m *Module, uses map[Principal][]APIUse) []string {
	grants := m.Grants()
	var p []string
	require := func(who Principal, n Need, why string) {
		if !granted(grants, who, n) {
			on := "the project"
			if n.Target != "" {
				on = n.Target
			}
			p = append(p, fmt.Sprintf("role %s: %s needs it on %s (%s) but no *_iam_member grants it", n.Role, who, on, why))
		}
	}
	for who, list := range uses {
		for _, u := range list {
			needs, ok := RolesByAPI[who][u.API]
			if !ok {
				p = append(p, fmt.Sprintf("api %s: %s calls it (%s) but infracheck.RolesByAPI says nothing of the roles it needs", u.API, who, strings.Join(u.By, ", ")))
			}
			for _, n := range needs {
				require(who, n, "calls "+u.API)
			}
		}
	}
	for who, needs := range StaticNeeds {
		for _, n := range needs {
			require(who, n, "architecture")
		}
	}
	return p
}

func granted(grants []Grant, who Principal, n Need) bool {
	for _, g := range grants {
		if g.Role != n.Role || !contains(g.Members, string(who)) {
			continue
		}
		onProject := n.Target == "" && strings.HasPrefix(g.Resource, "google_project_iam_member.")
		if onProject || n.Target != "" && contains(g.Targets, n.Target) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
