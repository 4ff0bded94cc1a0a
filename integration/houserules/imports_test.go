package houserules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/runsock/runsock/"

// pkg is one package of the module as `go list` describes it.
type pkg struct {
	ImportPath string
	Imports    []string // direct imports, test files excluded
	Deps       []string // every package it depends on, directly or not, test files excluded
}

// deployables are the top-level folders that each build one thing that runs somewhere else. They share code only
// through the contract packages, never by importing each other.
var deployables = []string{"agent", "controlplane", "localproxy", "functions"}

// contracts are the top-level packages that define what two deployables say to each other.
var contracts = []string{"proxyproto", "linkproto", "executiondoc"}

// rule forbids packages matching from to depend, directly or not, on packages matching to.
type rule struct {
	name string
	from func(path string) bool
	to   func(path string) bool
}

var dockerEngineClients = []string{"github.com/moby/moby/client", "github.com/docker/docker/client", "github.com/fsouza/go-dockerclient"}

var rules = []rule{
	{
		name: "the product never imports the local cloud, tests or benchmarks (integration/)",
		from: isProduct,
		to:   under(module + "integration"),
	},
	{
		name: "only gcpsim and test tooling talk to a Docker Engine: no Docker Engine client in the product",
		from: isProduct,
		to:   underAny(dockerEngineClients...),
	},
	{
		name: "the agent never imports a Google Cloud data-plane SDK: it reaches only the control plane",
		from: under(module + "agent"),
		to: underAny("cloud.google.com/go/firestore", "cloud.google.com/go/run", "cloud.google.com/go/logging",
			"cloud.google.com/go/pubsub", "cloud.google.com/go/storage"),
	},
	{
		name: "the container lifecycle (containers) never imports the HTTP layer, a cloud SDK, Firestore, gRPC or the agent link",
		from: exactly(module + "controlplane/internal/containers"),
		to: underAny("cloud.google.com/go", "google.golang.org/grpc", "google.golang.org/api",
			module+"controlplane/internal/dockerapi", module+"controlplane/internal/store",
			module+"controlplane/internal/agentlink", module+"controlplane/internal/agentsessions",
			module+"controlplane/internal/livelogs", module+"linkproto"),
	},
	{
		name: "volumes never imports the HTTP layer or the container lifecycle (each declares what it needs of the other)",
		from: exactly(module + "controlplane/internal/volumes"),
		to:   underAny(module+"controlplane/internal/dockerapi", module+"controlplane/internal/containers"),
	},
	{
		name: "networks never imports the HTTP layer, a cloud SDK, Firestore, gRPC or the agent link",
		from: exactly(module + "controlplane/internal/networks"),
		to: underAny("cloud.google.com/go", "google.golang.org/grpc", "google.golang.org/api",
			module+"controlplane/internal/dockerapi", module+"controlplane/internal/store",
			module+"controlplane/internal/agentlink", module+"controlplane/internal/agentsessions", module+"linkproto"),
	},
	{
		name: "localproxy never imports the Google Cloud data-plane SDKs",
		from: under(module + "localproxy"),
		to: underAny("cloud.google.com/go/firestore", "cloud.google.com/go/run", "cloud.google.com/go/logging",
			"cloud.google.com/go/pubsub"),
	},
}

// TestRulesCatchWhatTheyForbid runs the rules over small made-up graphs, so that a rule that can never fire is seen.
func TestRulesCatchWhatTheyForbid(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkg
		want string // a part of the violation; "" for none
	}{
		{"product importing gcpsim", pkg{ImportPath: module + "controlplane/internal/images",
			Deps: []string{module + "integration/gcpsim/registry"}}, "never imports the local cloud"},
		{"agent with a Docker client", pkg{ImportPath: module + "agent/internal/link",
			Deps: []string{"github.com/moby/moby/client"}}, "Docker Engine client"},
		{"control plane importing the agent", pkg{ImportPath: module + "controlplane/internal/containers",
			Imports: []string{module + "agent/internal/archive"}}, "imports no other deployable"},
		{"control plane importing a contract", pkg{ImportPath: module + "controlplane/internal/dockerapi",
			Imports: []string{module + "proxyproto"}}, ""},
		{"lifecycle reaching Firestore", pkg{ImportPath: module + "controlplane/internal/containers",
			Deps: []string{"cloud.google.com/go/firestore"}}, "a cloud SDK, Firestore"},
		{"networks reaching the agent link", pkg{ImportPath: module + "controlplane/internal/networks",
			Deps: []string{module + "linkproto"}}, "networks never imports"},
		{"agent reaching Firestore", pkg{ImportPath: module + "agent/internal/sessions",
			Deps: []string{"cloud.google.com/go/firestore/apiv1"}}, "data-plane SDK"},
		{"gcpsim with a Docker client", pkg{ImportPath: module + "integration/gcpsim/tasks",
			Deps: []string{"github.com/moby/moby/client"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(violations([]pkg{tt.pkg}), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("violations = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestImportRules(t *testing.T) {
	pkgs, err := listModule()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages; is the test running inside the module?", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

const separateDeployables = "a deployable imports no other deployable; what two of them share lives in a top-level contract package"

// violations returns one line per package and broken rule, naming the first forbidden dependency.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.from(p.ImportPath) {
				continue
			}
			if i := slices.IndexFunc(p.Deps, r.to); i >= 0 {
				out = append(out, fmt.Sprintf("%s depends on %s: breaks %q", p.ImportPath, p.Deps[i], r.name))
			}
		}
		for _, d := range p.Imports {
			if crossesDeployables(p.ImportPath, d) {
				out = append(out, fmt.Sprintf("%s imports %s: breaks %q", p.ImportPath, d, separateDeployables))
			}
		}
	}
	return out
}

// crossesDeployables reports whether from, inside one deployable, imports a package of another.
func crossesDeployables(from, to string) bool {
	a, b := deployableOf(from), deployableOf(to)
	return a != "" && b != "" && a != b
}

func deployableOf(path string) string {
	for _, d := range deployables {
		if under(module + d)(path) {
			return d
		}
	}
	return ""
}

func isProduct(path string) bool {
	if deployableOf(path) != "" {
		return true
	}
	return slices.ContainsFunc(contracts, func(c string) bool { return under(module + c)(path) })
}

func under(prefix string) func(string) bool {
	return func(path string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }
}

func underAny(prefixes ...string) func(string) bool {
	return func(path string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return under(p)(path) })
	}
}

func exactly(want string) func(string) bool { return func(path string) bool { return path == want } }

// listModule runs `go list` over the whole module.
func listModule() ([]pkg, error) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", module+"...")
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("go list: %w: %s", err, exit.Stderr)
		}
		return nil, fmt.Errorf("go list: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}
