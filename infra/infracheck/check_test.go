package infracheck

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

const (
	repoRoot  = "../.."
	moduleDir = ".."
	deployDoc = "../../docs/deploy.md"
)

// codeOf gathers what the code in the tree needs, as the deployed identities run it.
func codeOf(t *testing.T) Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	names, err := ControlPlaneEnvNames(ctx, repoRoot)
	if err != nil {
		t.Fatalf("control plane env names: %v", err)
	}
	fnEnv, err := EnvReads(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := FirestoreSchema(ctx, repoRoot)
	if err != nil {
		t.Fatalf("control plane Firestore schema: %v", err)
	}
	if len(schema.Indexes) == 0 || len(schema.TTLs) == 0 {
		t.Fatalf("store.NeededSchema read as %+v: the probe read nothing", schema)
	}
	code := Code{ControlPlaneEnv: names, FunctionEnv: fnEnv, APIs: map[Principal][]APIUse{}, Firestore: schema}
	for who, dir := range map[Principal]string{ControlPlane: "controlplane", Events: "functions", Jobs: "agent"} {
		uses, err := GoogleAPIs(filepath.Join(repoRoot, dir))
		if err != nil {
			t.Fatal(err)
		}
		code.APIs[who] = uses
		for _, u := range uses {
			t.Logf("%s calls %s (%s)", dir, u.API, strings.Join(u.By, ", "))
		}
	}
	return code
}

func TestModuleIsFormatted(t *testing.T) {
	bad, err := Unformatted(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("terraform fmt would rewrite %v", bad)
	}
}

func TestModuleMatchesCode(t *testing.T) {
	m, err := Load(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Check(m, codeOf(t)) {
		t.Error(p)
	}
}

func TestDeployDocMatchesOutputs(t *testing.T) {
	m, err := Load(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadDoc(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Used) == 0 || len(d.Table) == 0 {
		t.Fatalf("docs/deploy.md names no outputs (commands %v, table %v)", d.Used, d.Table)
	}
	for _, p := range CheckOutputs(m, d) {
		t.Error(p)
	}
}

// fullCode is what the control plane and the function need once every part is written: the mutation tests hold
// the module against it, so they do not depend on how far the other parts are today.
func fullCode() Code {
	var names []string
	for n := range ControlPlaneEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	use := func(apis ...string) []APIUse {
		var out []APIUse
		for _, a := range apis {
			out = append(out, APIUse{API: a, By: []string{"test"}})
		}
		return out
	}
	eventsIndex := FirestoreIndex{Collection: "events", Fields: []struct{ Path, Order string }{{"owner", "ASCENDING"}, {"time", "ASCENDING"}}}
	return Code{ControlPlaneEnv: names, FunctionEnv: map[string]bool{"PORT": true, "RUNSOCK_PROJECT": true, "RUNSOCK_FIRESTORE_DATABASE": true}, APIs: map[Principal][]APIUse{
		ControlPlane: use("run.googleapis.com", "firestore.googleapis.com", "logging.googleapis.com", "pubsub.googleapis.com", "artifactregistry.googleapis.com"),
		Events:       use("firestore.googleapis.com"),
	}, Firestore: Firestore{Indexes: []FirestoreIndex{eventsIndex}, TTLs: []FirestoreTTL{{"events", "expireAt"}}}}
}

// TestCheckFailsWhenSomethingIsRemoved mutates a copy of the module and expects the check to name what is now
// missing.
func TestCheckFailsWhenSomethingIsRemoved(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		code   func(Code) Code
		want   string
	}{
		{"env RUNSOCK_PROJECT removed", removeEnv("RUNSOCK_PROJECT"), nil,
			"env RUNSOCK_PROJECT: not set on google_cloud_run_v2_service.controlplane"},
		{"env RUNSOCK_IDENTITY_MODE removed", removeEnv("RUNSOCK_IDENTITY_MODE"), nil,
			"env RUNSOCK_IDENTITY_MODE: not set"},
		{"emulator env added", addEnv("FIRESTORE_EMULATOR_HOST"), nil,
			"env FIRESTORE_EMULATOR_HOST: set on google_cloud_run_v2_service.controlplane but must not be"},
		{"env the code does not read", addEnv("RUNSOCK_NO_SUCH_SETTING"), nil,
			"env RUNSOCK_NO_SUCH_SETTING: set on google_cloud_run_v2_service.controlplane but the control plane does not read it"},
		{"config reads a new variable", nil, func(c Code) Code { c.ControlPlaneEnv = append(c.ControlPlaneEnv, "RUNSOCK_NEW"); return c },
			"env RUNSOCK_NEW: the control plane reads it but infracheck.ControlPlaneEnv has no rule"},
		{"function's project removed", removeEnvOf("events.tf", "RUNSOCK_PROJECT"), nil,
			"env RUNSOCK_PROJECT: the function reads it but google_cloud_run_v2_service.events does not set it"},
		{"api run removed", removeLine("main.tf", `"run.googleapis.com",`), nil,
			"api run.googleapis.com: called by test but not enabled"},
		{"api firestore removed", removeLine("main.tf", `"firestore.googleapis.com",`), nil,
			"api firestore.googleapis.com: called by test but not enabled"},
		{"code calls a new api", nil, func(c Code) Code {
			c.APIs[ControlPlane] = append(c.APIs[ControlPlane], APIUse{API: "secretmanager.googleapis.com", By: []string{"controlplane/internal/secrets"}})
			return c
		}, "api secretmanager.googleapis.com: called by controlplane/internal/secrets but not enabled"},
		{"role run.developer removed", removeResource("google_project_iam_member", "controlplane_run_developer"), nil,
			"role roles/run.developer: google_service_account.controlplane needs it on the project"},
		{"actAs on the jobs' account removed", removeResource("google_service_account_iam_member", "controlplane_acts_as_jobs"), nil,
			"role roles/iam.serviceAccountUser: google_service_account.controlplane needs it on google_service_account.jobs"},
		{"function's datastore.user removed", removeResource("google_project_iam_member", "events_datastore_user"), nil,
			"role roles/datastore.user: google_service_account.events needs it on the project"},
		{"agent writer role removed", removeResource("google_artifact_registry_repository_iam_member", "controlplane_agent_writer"), nil,
			"role roles/artifactregistry.writer: google_service_account.controlplane needs it on google_artifact_registry_repository.agent"},
		{"run.developer narrowed to one service", func(t *testing.T, dir string) {
			removeResource("google_project_iam_member", "controlplane_run_developer")(t, dir)
			editFile(t, filepath.Join(dir, "iam.tf"), func(f *hclwrite.File) int {
				b := f.Body().AppendNewBlock("resource", []string{"google_cloud_run_v2_service_iam_member", "narrow"})
				b.Body().SetAttributeTraversal("name", hcl.Traversal{hcl.TraverseRoot{Name: "google_cloud_run_v2_service"}, hcl.TraverseAttr{Name: "controlplane"}, hcl.TraverseAttr{Name: "name"}})
				b.Body().SetAttributeRaw("role", hclwrite.TokensForIdentifier(`"roles/run.developer"`))
				b.Body().SetAttributeRaw("member", hclwrite.TokensForIdentifier(`"serviceAccount:${google_service_account.controlplane.email}"`))
				return 1
			})
		}, nil, "role roles/run.developer: google_service_account.controlplane needs it on the project"},
		{"jobs may no longer dial back", removeResource("google_cloud_run_v2_service_iam_member", "jobs_invoke_controlplane"), nil,
			"role roles/run.invoker: google_service_account.jobs needs it on google_cloud_run_v2_service.controlplane"},
		{"sink writer cannot publish", removeResource("google_pubsub_topic_iam_member", "sink_publishes_events"), nil,
			"role roles/pubsub.publisher: google_logging_project_sink.execution_events needs it on google_pubsub_topic.execution_events"},
		{"events index removed", removeResource("google_firestore_index", "events_by_owner_and_time"), nil,
			"firestore index events (owner ASCENDING, time ASCENDING): the control plane queries by it but no google_firestore_index declares it"},
		{"events TTL removed", removeResource("google_firestore_field", "events_expire_at"), nil,
			"firestore TTL events.expireAt: the control plane sets it but no google_firestore_field gives it a ttl_config"},
		{"an index the code adds", nil, func(c Code) Code {
			c.Firestore.Indexes = append(c.Firestore.Indexes, FirestoreIndex{Collection: "events", Fields: []struct{ Path, Order string }{{"type", "ASCENDING"}, {"time", "DESCENDING"}}})
			return c
		}, "firestore index events (type ASCENDING, time DESCENDING)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyModule(t)
			code := fullCode()
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if p := Check(m, code); len(p) > 0 {
				t.Fatalf("the unmutated module already fails: %v", p)
			}
			if tt.mutate != nil {
				tt.mutate(t, dir)
			}
			if tt.code != nil {
				code = tt.code(code)
			}
			if m, err = Load(dir); err != nil {
				t.Fatal(err)
			}
			problems := Check(m, code)
			if !containsProblem(problems, tt.want) {
				t.Errorf("problems %q\nwant one containing %q", problems, tt.want)
			}
		})
	}
}

func TestCheckOutputsFailsWhenAnOutputIsRemoved(t *testing.T) {
	dir := copyModule(t)
	removeBlock(t, dir, "outputs.tf", func(b *hclwrite.Block) bool {
		return b.Type() == "output" && b.Labels()[0] == "artifact_registry_url"
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadDoc(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	want := "output artifact_registry_url: the document names it but the module declares no such output"
	if p := CheckOutputs(m, d); !containsProblem(p, want) {
		t.Errorf("problems %q\nwant %q", p, want)
	}
}

func TestUnformattedFails(t *testing.T) {
	dir := copyModule(t)
	path := filepath.Join(dir, "outputs.tf")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	messy := strings.Replace(string(src), "  value       = var.project_id", "  value = var.project_id", 1)
	if messy == string(src) {
		t.Fatal("mutation did not apply")
	}
	if err := os.WriteFile(path, []byte(messy), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := Unformatted(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || filepath.Base(bad[0]) != "outputs.tf" {
		t.Errorf("Unformatted = %v, want [outputs.tf]", bad)
	}
}

func containsProblem(problems []string, want string) bool {
	for _, p := range problems {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}

func copyModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	paths, err := filepath.Glob(filepath.Join(moduleDir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func removeLine(file, line string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) != line {
				kept = append(kept, l)
			}
		}
		if len(kept) == strings.Count(string(b), "\n")+1 {
			t.Fatalf("%s has no line %q", file, line)
		}
		if err := os.WriteFile(path, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func removeEnv(name string) func(*testing.T, string) { return removeEnvOf("controlplane.tf", name) }

func removeEnvOf(file, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		removeBlock(t, dir, file, func(b *hclwrite.Block) bool {
			a := b.Body().GetAttribute("name")
			return b.Type() == "env" && a != nil && strings.TrimSpace(string(a.Expr().BuildTokens(nil).Bytes())) == `"`+name+`"`
		})
	}
}

func addEnv(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		editFile(t, filepath.Join(dir, "controlplane.tf"), func(f *hclwrite.File) int {
			res := f.Body().FirstMatchingBlock("resource", []string{"google_cloud_run_v2_service", "controlplane"})
			c := res.Body().FirstMatchingBlock("template", nil).Body().FirstMatchingBlock("containers", nil)
			env := c.Body().AppendNewBlock("env", nil)
			env.Body().SetAttributeRaw("name", hclwrite.TokensForIdentifier(`"`+name+`"`))
			env.Body().SetAttributeRaw("value", hclwrite.TokensForIdentifier(`"x"`))
			return 1
		})
	}
}

func removeResource(typ, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		removeBlock(t, dir, "", func(b *hclwrite.Block) bool {
			l := b.Labels()
			return b.Type() == "resource" && len(l) == 2 && l[0] == typ && l[1] == name
		})
	}
}

// removeBlock removes every block (at any depth) matching match from file, or from every .tf file when file is
// "", and fails unless something was removed.
func removeBlock(t *testing.T, dir, file string, match func(*hclwrite.Block) bool) {
	t.Helper()
	files := []string{filepath.Join(dir, file)}
	if file == "" {
		files, _ = filepath.Glob(filepath.Join(dir, "*.tf"))
	}
	removed := 0
	for _, path := range files {
		removed += editFile(t, path, func(f *hclwrite.File) int { return removeFrom(f.Body(), match) })
	}
	if removed == 0 {
		t.Fatalf("no block matched in %s", dir)
	}
}

func removeFrom(body *hclwrite.Body, match func(*hclwrite.Block) bool) int {
	n := 0
	for _, b := range body.Blocks() {
		if match(b) {
			body.RemoveBlock(b)
			n++
			continue
		}
		n += removeFrom(b.Body(), match)
	}
	return n
}

func editFile(t *testing.T, path string, edit func(*hclwrite.File) int) int {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclwrite.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n := edit(f)
	if err := os.WriteFile(path, f.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}
