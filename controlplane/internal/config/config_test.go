package config

import (
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			env:  map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "cloudrun", "RUNSOCK_ALLOW": "a@x.com"},
			check: func(t *testing.T, c Config) {
				if c.Addr != ":8080" || c.TaskTimeout != 24*time.Hour || c.FirestoreDatabase != "(default)" || c.TeamRepo != "runsock" {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "port and flags override env",
			args: []string{"-project", "flagp", "-allow", "a@x.com, @y.com"},
			env:  map[string]string{"PORT": "9000", "RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "none", "RUNSOCK_DEV_INSECURE": "1"},
			check: func(t *testing.T, c Config) {
				if c.Addr != ":9000" || c.Project != "flagp" || len(c.Allow) != 2 || c.Allow[1] != "@y.com" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"RUNSOCK_IDENTITY_MODE": "none", "RUNSOCK_TASK_TIMEOUT": "200h", "RUNSOCK_LOG_FORMAT": "xml"},
			wantErr: []string{"project is required", "region is required", "needs -dev-insecure", "task timeout", "log format"},
		},
		{
			name:    "cloudrun needs an allow-list",
			env:     map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "cloudrun"},
			wantErr: []string{"identity mode cloudrun needs -allow", "RUNSOCK_ALLOW_ALL_INVOKERS=true"},
		},
		{
			name: "cloudrun admits every invoker when told explicitly",
			env:  map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "cloudrun", "RUNSOCK_ALLOW_ALL_INVOKERS": "true"},
			check: func(t *testing.T, c Config) {
				if !c.AllowAllInvokers || len(c.Allow) != 0 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "private registries",
			env: map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "none", "RUNSOCK_DEV_INSECURE": "1",
				"RUNSOCK_PRIVATE_REGISTRIES": "registry.internal, 10.0.0.5:5000"},
			check: func(t *testing.T, c Config) {
				if len(c.PrivateRegistries) != 2 || c.PrivateRegistries[0] != "registry.internal" || c.PrivateRegistries[1] != "10.0.0.5:5000" {
					t.Errorf("got %q", c.PrivateRegistries)
				}
			},
		},
		{
			name: "private registries are hosts",
			env: map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r", "RUNSOCK_IDENTITY_MODE": "none", "RUNSOCK_DEV_INSECURE": "1",
				"RUNSOCK_PRIVATE_REGISTRIES": "https://registry.internal,10.0.0.5:5000/team"},
			wantErr: []string{`private registry "https://registry.internal"`, `private registry "10.0.0.5:5000/team"`},
		},
		{
			name:    "oidc needs issuer",
			env:     map[string]string{"RUNSOCK_PROJECT": "p", "RUNSOCK_REGION": "r"},
			wantErr: []string{"needs -oidc-issuer", "needs -audience"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, envMap(tt.env))
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range EnvNames() {
		if seen[n] {
			t.Errorf("duplicate %s", n)
		}
		seen[n] = true
	}
	if !seen["PORT"] || !seen["RUNSOCK_PROJECT"] {
		t.Errorf("missing names: %v", EnvNames())
	}
}
