package infracheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// APIUse is a Google API a part of runsock calls, with the packages whose imports show it.
type APIUse struct {
	API string // e.g. "run.googleapis.com"
	By  []string
}

// importAPIs maps an import path prefix to the API it calls; "" means the import calls no API of its own.
// Longest prefix wins. cloud.google.com/go/X and google.golang.org/api/X/... not listed map to X.googleapis.com.
var importAPIs = map[string]string{
	"cloud.google.com/go/compute/metadata":                  "", // the metadata server, not an API
	"cloud.google.com/go/auth":                              "",
	"cloud.google.com/go/longrunning":                       "", // operations are served by the API that started them
	"cloud.google.com/go/iam":                               "", // policy types used by other clients
	"cloud.google.com/go/pubsub/v2":                         "pubsub.googleapis.com",
	"google.golang.org/api/idtoken":                         "", // metadata server or a key file: no API call
	"google.golang.org/api/option":                          "",
	"google.golang.org/api/iterator":                        "",
	"google.golang.org/api/googleapi":                       "",
	"google.golang.org/api/transport":                       "",
	"google.golang.org/api/iamcredentials":                  "iamcredentials.googleapis.com",
	"github.com/google/go-containerregistry":                "artifactregistry.googleapis.com",
	"github.com/GoogleCloudPlatform/functions-framework-go": "",
	// The volumes package calls the Cloud Storage JSON API by hand (over google.golang.org/api/transport): its
	// importers call Cloud Storage.
	"github.com/runsock/runsock/controlplane/internal/volumes": "storage.googleapis.com",
}

// apiOfImport returns the API an import path calls, or "".
func apiOfImport(path string) string {
	best, api := "", ""
	for prefix, a := range importAPIs {
		if (path == prefix || strings.HasPrefix(path, prefix+"/")) && len(prefix) > len(best) {
			best, api = prefix, a
		}
	}
	if best != "" {
		return api
	}
	for _, root := range []string{"cloud.google.com/go/", "google.golang.org/api/"} {
		if rest, ok := strings.CutPrefix(path, root); ok {
			return strings.SplitN(rest, "/", 2)[0] + ".googleapis.com"
		}
	}
	return ""
}

// GoogleAPIs walks the Go files (tests excluded) under dir and returns the APIs their imports call. It reads
// only import blocks, so it works while the code is mid-change and does not compile.
func GoogleAPIs(dir string) ([]APIUse, error) {
	by := map[string]map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || strings.HasPrefix(n, ".") || isFakePackage(n) {
				return fs.SkipDir // testdata and fakes (xxxtest packages) are not deployed
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("imports of %s: %w", path, err)
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if api := apiOfImport(p); api != "" {
				if by[api] == nil {
					by[api] = map[string]bool{}
				}
				rel, _ := filepath.Rel(dir, filepath.Dir(path))
				by[api][rel] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	var out []APIUse
	for api, pkgs := range by {
		u := APIUse{API: api}
		for p := range pkgs {
			u.By = append(u.By, p)
		}
		sort.Strings(u.By)
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].API < out[j].API })
	return out, nil
}

// probeTest is a one-function test laid into a package of the tree (through `go test -overlay`: nothing is written
// into the tree) that writes the JSON of one expression of that package: how infracheck reads what internal
// packages declare without importing them.
const probeTest = `package %s

import (
	"encoding/json"
	"os"
	"testing"
)

func TestZZInfracheckProbe(t *testing.T) {
	b, err := json.Marshal(%s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("INFRACHECK_PROBE_OUT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
`

// probe decodes into out the JSON of expr, evaluated in the package pkg (its name) at dir below repoRoot.
func probe(ctx context.Context, repoRoot, dir, pkg, expr string, out any) error {
	tmp, err := os.MkdirTemp("", "infracheck-probe")
	if err != nil {
		return fmt.Errorf("probe dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "probe_test.go")
	if err := os.WriteFile(src, []byte(fmt.Sprintf(probeTest, pkg, expr)), 0o644); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		return err
	}
	virtual := filepath.Join(abs, filepath.FromSlash(dir), "zz_infracheck_probe_test.go")
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {virtual: src}})
	if err != nil {
		return err
	}
	overlayPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return fmt.Errorf("write overlay: %w", err)
	}
	outPath := filepath.Join(tmp, "out.json")
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-overlay", overlayPath, "-run", "^TestZZInfracheckProbe$", "./"+dir)
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "INFRACHECK_PROBE_OUT="+outPath)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run the probe of %s.%s: %w: %s", pkg, expr, err, output.String())
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		return fmt.Errorf("the probe of %s.%s wrote nothing: %w: %s", pkg, expr, err, output.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the probe of %s.%s %q: %w", pkg, expr, b, err)
	}
	return nil
}

// ControlPlaneEnvNames returns config.EnvNames() of the control plane in the module rooted at repoRoot (the config
// package is internal to controlplane/, so it is probed).
func ControlPlaneEnvNames(ctx context.Context, repoRoot string) ([]string, error) {
	var names []string
	err := probe(ctx, repoRoot, "controlplane/internal/config", "config", "EnvNames()", &names)
	return names, err
}

// FirestoreSchema returns store.NeededSchema() of the control plane in the module rooted at repoRoot: the composite
// indexes and TTL policies its Firestore queries and retention need.
func FirestoreSchema(ctx context.Context, repoRoot string) (Firestore, error) {
	var f Firestore
	err := probe(ctx, repoRoot, "controlplane/internal/store", "store", "NeededSchema()", &f)
	return f, err
}

// isFakePackage reports whether a directory holds a test fake (named after its parent: cloudruntest, storetest).
func isFakePackage(name string) bool {
	return len(name) > len("test") && strings.HasSuffix(name, "test") && name != "latest"
}

// EnvReads returns the names passed as string literals to os.Getenv or os.LookupEnv in the non-test Go files
// under dir: what a part without a config package (the function) reads.
func EnvReads(dir string) (map[string]bool, error) {
	names := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					names[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	return names, nil
}
