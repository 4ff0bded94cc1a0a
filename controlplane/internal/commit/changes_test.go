package commit

import (
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestApplyChanges(t *testing.T) {
	base := func() container.Config {
		return container.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "HOME=/root"}, WorkingDir: "/srv",
			Labels: map[string]string{"a": "1"}}
	}
	for _, tt := range []struct {
		name    string
		changes []string
		check   func(t *testing.T, c container.Config)
	}{
		{"cmd exec form", []string{`CMD ["echo", "hi"]`}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Cmd, []string{"echo", "hi"}) {
				t.Errorf("Cmd = %q", c.Cmd)
			}
		}},
		{"cmd shell form", []string{`cmd echo "$HOME" hi`}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", `echo "$HOME" hi`}) {
				t.Errorf("Cmd = %q", c.Cmd)
			}
		}},
		{"entrypoint drops cmd", []string{`ENTRYPOINT ["/app"]`}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Entrypoint, []string{"/app"}) || c.Cmd != nil {
				t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
			}
		}},
		{"cmd before entrypoint stays", []string{`CMD ["x"]`, `ENTRYPOINT ["/app"]`}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Cmd, []string{"x"}) {
				t.Errorf("Cmd %q", c.Cmd)
			}
		}},
		{"env forms and expansion", []string{`ENV A=1 B="two words" C=${HOME}/x`, `ENV D legacy value`, `ENV PATH=$PATH:/opt`}, func(t *testing.T, c container.Config) {
			want := []string{"PATH=/bin:/opt", "HOME=/root", "A=1", "B=two words", "C=/root/x", "D=legacy value"}
			if !reflect.DeepEqual(c.Env, want) {
				t.Errorf("Env = %q, want %q", c.Env, want)
			}
		}},
		{"label, user, stopsignal", []string{`LABEL b=2 "c d"=e`, `USER 1000:1000`, `STOPSIGNAL SIGINT`}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Labels, map[string]string{"a": "1", "b": "2", "c d": "e"}) || c.User != "1000:1000" || c.StopSignal != "SIGINT" {
				t.Errorf("Labels %v User %q StopSignal %q", c.Labels, c.User, c.StopSignal)
			}
		}},
		{"expose", []string{`EXPOSE 80 53/udp 8000-8001`}, func(t *testing.T, c container.Config) {
			var got []string
			for p := range c.ExposedPorts {
				got = append(got, p.String())
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, []string{"53/udp", "80/tcp", "8000/tcp", "8001/tcp"}) {
				t.Errorf("ExposedPorts = %v", got)
			}
		}},
		{"workdir relative", []string{`WORKDIR app`, `WORKDIR ../lib`}, func(t *testing.T, c container.Config) {
			if c.WorkingDir != "/srv/lib" {
				t.Errorf("WorkingDir = %q", c.WorkingDir)
			}
		}},
		{"volume, onbuild", []string{`VOLUME ["/data"]`, `VOLUME /a /b`, `ONBUILD run echo hi`}, func(t *testing.T, c container.Config) {
			if len(c.Volumes) != 3 || !reflect.DeepEqual(c.OnBuild, []string{"RUN echo hi"}) {
				t.Errorf("Volumes %v OnBuild %q", c.Volumes, c.OnBuild)
			}
		}},
		{"healthcheck", []string{"HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/"}, func(t *testing.T, c container.Config) {
			h := c.Healthcheck
			if h == nil || h.Interval != 5*time.Second || h.Retries != 2 || !reflect.DeepEqual(h.Test, []string{"CMD-SHELL", "curl -f http://localhost/"}) {
				t.Errorf("Healthcheck = %+v", h)
			}
		}},
		{"continuation and comment", []string{"# note\nENV X=1 \\\n Y=2"}, func(t *testing.T, c container.Config) {
			if !reflect.DeepEqual(c.Env[2:], []string{"X=1", "Y=2"}) {
				t.Errorf("Env = %q", c.Env)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if err := ApplyChanges(&c, tt.changes); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestApplyChangesRefuses(t *testing.T) {
	for _, change := range []string{`RUN echo hi`, `COPY a b`, `FROM alpine`, `ENV`, `EXPOSE http`, `USER`, `ONBUILD FROM x`, `ENV A="unterminated`} {
		c := container.Config{Env: []string{"A=1"}, ExposedPorts: network.PortSet{}}
		before := c
		err := ApplyChanges(&c, []string{`ENV B=2`, change})
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: err %v, want invalid argument", change, err)
		}
		if !reflect.DeepEqual(c, before) {
			t.Errorf("%q: a refused change altered the config: %+v", change, c)
		}
	}
	c := container.Config{}
	if err := ApplyChanges(&c, []string{"RUN x"}); err == nil || err.Error() != "run is not a valid change command" {
		t.Errorf("RUN: %v (Docker: \"run is not a valid change command\")", err)
	}
}

func TestConfigMergesAsDocker(t *testing.T) {
	ctr := container.Config{Cmd: []string{"sh", "-c", "make"}, Env: []string{"PATH=/bin", "A=ctr"}, User: "app",
		WorkingDir: "/w", Labels: map[string]string{"l": "ctr"}, StopSignal: "SIGTERM"}
	// The body (docker-py sends {}), then a change, then the container's for what is unset.
	cfg, err := Config(ctr, Options{Config: &container.Config{Env: []string{"A=body"}}, Changes: []string{"ENV B=change", "LABEL l2=x"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Env, []string{"A=body", "B=change", "PATH=/bin"}) || cfg.User != "app" || cfg.WorkingDir != "/w" ||
		!reflect.DeepEqual(cfg.Cmd, ctr.Cmd) || cfg.Labels["l"] != "ctr" || cfg.Labels["l2"] != "x" || cfg.StopSignal != "SIGTERM" {
		t.Errorf("Config = %+v", cfg)
	}
	// No body: the container's config with the changes.
	cfg, err = Config(ctr, Options{Changes: []string{`ENTRYPOINT ["/app"]`}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Entrypoint, []string{"/app"}) || cfg.Cmd != nil {
		t.Errorf("ENTRYPOINT change: Entrypoint %q Cmd %q (Docker drops the Cmd)", cfg.Entrypoint, cfg.Cmd)
	}
}

func TestRepoTag(t *testing.T) {
	for _, tt := range []struct{ repo, tag, want string }{
		{"", "", ""},
		{"docker.io/library/myimg", "", "myimg:latest"},
		{"myimg", "v1", "myimg:v1"},
		{"127.0.0.1:18091/p/r/img", "x", "127.0.0.1:18091/p/r/img:x"},
	} {
		if got, err := RepoTag(tt.repo, tt.tag); err != nil || got != tt.want {
			t.Errorf("RepoTag(%q, %q) = %q, %v; want %q", tt.repo, tt.tag, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ repo, tag string }{{"UPPER", ""}, {"ok", "bad tag"}, {"", "v1"}, {"a@sha256:" + "ab", ""}} {
		if _, err := RepoTag(tt.repo, tt.tag); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("RepoTag(%q, %q): %v, want invalid argument", tt.repo, tt.tag, err)
		}
	}
}
