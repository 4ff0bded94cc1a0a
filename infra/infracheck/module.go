package infracheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Module is a parsed Terraform module: every top-level block of its .tf files. It evaluates nothing: values are
// read where they are literals, which is how this module writes every name, role and API the checks look at.
type Module struct {
	Dir    string
	blocks []*hclsyntax.Block
}

// Load parses every .tf file in dir (not recursively).
func Load(dir string) (*Module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	sort.Strings(paths)
	m := &Module{Dir: dir}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		f, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", p, diags)
		}
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
	}
	return m, nil
}

// Resource returns the resource block of the given type and name, or nil.
func (m *Module) Resource(typ, name string) *hclsyntax.Block {
	for _, b := range m.blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == typ && b.Labels[1] == name {
			return b
		}
	}
	return nil
}

// Resources returns every resource block whose type satisfies match.
func (m *Module) Resources(match func(typ string) bool) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && match(b.Labels[0]) {
			out = append(out, b)
		}
	}
	return out
}

// Outputs returns the names of the module's outputs.
func (m *Module) Outputs() []string {
	var out []string
	for _, b := range m.blocks {
		if b.Type == "output" && len(b.Labels) == 1 {
			out = append(out, b.Labels[0])
		}
	}
	return out
}

// RequiredProviders returns each required provider's source and version constraint.
func (m *Module) RequiredProviders() map[string][2]string {
	out := map[string][2]string{}
	for _, b := range m.blocks {
		if b.Type != "terraform" {
			continue
		}
		for _, rp := range nested(b.Body, "required_providers") {
			for name, a := range rp.Body.Attributes {
				var v map[string]string
				if diags := gohcl.DecodeExpression(a.Expr, nil, &v); diags.HasErrors() {
					continue
				}
				out[name] = [2]string{v["source"], v["version"]}
			}
		}
	}
	return out
}

// ContainerEnv returns the env names set on the first container of a google_cloud_run_v2_service.
func (m *Module) ContainerEnv(service string) (map[string]bool, error) {
	b := m.Resource("google_cloud_run_v2_service", service)
	if b == nil {
		return nil, fmt.Errorf("no resource google_cloud_run_v2_service.%s", service)
	}
	env := map[string]bool{}
	for _, t := range nested(b.Body, "template") {
		for _, c := range nested(t.Body, "containers") {
			for _, e := range nested(c.Body, "env") {
				if name, ok := m.String(e.Body, "name"); ok {
					env[name] = true
				}
			}
		}
	}
	return env, nil
}

// String returns attribute attr of body if it is a string literal.
func (m *Module) String(body *hclsyntax.Body, attr string) (string, bool) {
	a, ok := body.Attributes[attr]
	if !ok {
		return "", false
	}
	return literal(a.Expr)
}

func literal(e hclsyntax.Expression) (string, bool) {
	if len(e.Variables()) > 0 {
		return "", false
	}
	var s string
	if diags := gohcl.DecodeExpression(e, nil, &s); diags.HasErrors() {
		return "", false
	}
	return s, true
}

// EnabledAPIs returns the services of every google_project_service: a literal service, or every string literal
// its for_each names, directly or through a local (so a conditional API counts as enabled).
func (m *Module) EnabledAPIs() map[string]bool {
	apis := map[string]bool{}
	for _, b := range m.Resources(func(t string) bool { return t == "google_project_service" }) {
		if fe, ok := b.Body.Attributes["for_each"]; ok {
			for _, s := range m.stringLiterals(fe.Expr) {
				apis[s] = true
			}
			continue
		}
		if s, ok := m.String(b.Body, "service"); ok {
			apis[s] = true
		}
	}
	return apis
}

// stringLiterals collects the string literals in e and in the locals e refers to.
func (m *Module) stringLiterals(e hclsyntax.Expression) []string {
	var out []string
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.TemplateExpr:
			if s, ok := literal(n); ok {
				out = append(out, s)
			}
		case *hclsyntax.ScopeTraversalExpr:
			if n.Traversal.RootName() == "local" && len(n.Traversal) > 1 {
				if a, ok := n.Traversal[1].(hcl.TraverseAttr); ok {
					if le := m.local(a.Name); le != nil {
						out = append(out, m.stringLiterals(le)...)
					}
				}
			}
		}
		return nil
	})
	return out
}

func (m *Module) local(name string) hclsyntax.Expression {
	for _, b := range m.blocks {
		if b.Type == "locals" {
			if a, ok := b.Body.Attributes[name]; ok {
				return a.Expr
			}
		}
	}
	return nil
}

// Grant is one *_iam_member resource: who gets which role on what.
type Grant struct {
	Resource string   // type.name of the grant itself
	Role     string   // "" when not known statically (for_each over roles)
	Members  []string // references in member, e.g. "google_service_account.controlplane"
	Targets  []string // references in the resource it grants on, e.g. "google_artifact_registry_repository.agent"
}

// targetAttrs name the attribute that identifies what an IAM member resource grants on.
var targetAttrs = []string{"service_account_id", "repository", "subscription", "topic", "bucket", "name"}

// Grants returns every *_iam_member resource.
func (m *Module) Grants() []Grant {
	var out []Grant
	for _, b := range m.Resources(func(t string) bool { return strings.HasSuffix(t, "_iam_member") }) {
		g := Grant{Resource: b.Labels[0] + "." + b.Labels[1]}
		g.Role, _ = m.String(b.Body, "role")
		if a, ok := b.Body.Attributes["member"]; ok {
			g.Members = refs(a.Expr)
		}
		for _, ta := range targetAttrs {
			if a, ok := b.Body.Attributes[ta]; ok {
				g.Targets = append(g.Targets, refs(a.Expr)...)
			}
		}
		out = append(out, g)
	}
	return out
}

// refs names the resources an expression refers to, as "type.name" (or "var.x", "local.x").
func refs(e hclsyntax.Expression) []string {
	var out []string
	for _, t := range e.Variables() {
		name := t.RootName()
		if len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok {
				name += "." + a.Name
			}
		}
		out = append(out, name)
	}
	return out
}

func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}
