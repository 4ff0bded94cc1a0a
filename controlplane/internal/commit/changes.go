package commit

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// ApplyChanges applies Dockerfile instructions (docker commit --change, one or more lines each) to cfg as Docker's
// daemon does when it commits (its BuildFromConfig): only the instructions that change an image's config are
// valid, variables in ENV, LABEL, EXPOSE, USER, WORKDIR, VOLUME and STOPSIGNAL are expanded from the config's Env,
// and an ENTRYPOINT drops the Cmd unless a CMD came before it in the same changes. An invalid change is
// errdefs.ErrInvalidArgument and cfg is then left as it was.
func ApplyChanges(cfg *container.Config, changes []string) error {
	next := *cfg
	next.Env = append([]string(nil), cfg.Env...)
	next.Labels = copyMap(cfg.Labels)
	next.Volumes = copyMap(cfg.Volumes)
	if cfg.ExposedPorts != nil {
		next.ExposedPorts = network.PortSet{}
		for p := range cfg.ExposedPorts {
			next.ExposedPorts[p] = struct{}{}
		}
	}
	cmdSet := false
	for _, line := range instructions(strings.Join(changes, "\n")) {
		word, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		instr := strings.ToLower(word)
		if err := apply(&next, instr, rest, &cmdSet); err != nil {
			return errkind.New(errdefs.ErrInvalidArgument, "%v", err)
		}
	}
	*cfg = next
	return nil
}

func copyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// instructions splits a Dockerfile into its instructions: comments and blank lines dropped, lines ending in a
// backslash joined with the next.
func instructions(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\t", " "))
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func apply(c *container.Config, instr, rest string, cmdSet *bool) error {
	env := envMap(c.Env)
	switch instr {
	case "cmd":
		c.Cmd = commandLine(c, rest)
		*cmdSet = true
	case "entrypoint":
		c.Entrypoint = commandLine(c, rest)
		if !*cmdSet {
			c.Cmd = nil
		}
	case "env", "label":
		pairs, err := keyValues(instr, rest, env)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			if instr == "env" {
				c.Env = setEnv(c.Env, kv[0], kv[1])
				env[kv[0]] = kv[1]
				continue
			}
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[kv[0]] = kv[1]
		}
	case "expose":
		words, err := shellWords(rest, env)
		if err != nil || len(words) == 0 {
			return fmt.Errorf("EXPOSE requires at least one argument")
		}
		for _, w := range words {
			ports, err := exposed(w)
			if err != nil {
				return err
			}
			if c.ExposedPorts == nil {
				c.ExposedPorts = network.PortSet{}
			}
			for _, p := range ports {
				c.ExposedPorts[p] = struct{}{}
			}
		}
	case "user", "stopsignal":
		words, err := shellWords(rest, env)
		if err != nil || len(words) != 1 {
			return fmt.Errorf("%s requires exactly one argument", strings.ToUpper(instr))
		}
		if instr == "user" {
			c.User = words[0]
		} else {
			c.StopSignal = words[0]
		}
	case "workdir":
		words, err := shellWords(rest, env)
		if err != nil || len(words) != 1 {
			return fmt.Errorf("WORKDIR requires exactly one argument")
		}
		dir := words[0]
		if !path.IsAbs(dir) {
			dir = path.Join("/", c.WorkingDir, dir)
		}
		c.WorkingDir = path.Clean(dir)
	case "volume":
		vols, ok := jsonArray(rest)
		if !ok {
			var err error
			if vols, err = shellWords(rest, env); err != nil {
				return err
			}
		}
		if len(vols) == 0 {
			return fmt.Errorf("VOLUME requires at least one argument")
		}
		for _, v := range vols {
			if v = strings.TrimSpace(v); v == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			if c.Volumes == nil {
				c.Volumes = map[string]struct{}{}
			}
			c.Volumes[v] = struct{}{}
		}
	case "onbuild":
		word, trigger, _ := strings.Cut(rest, " ")
		switch t := strings.ToUpper(word); t {
		case "":
			return fmt.Errorf("ONBUILD requires at least one argument")
		case "ONBUILD", "FROM", "MAINTAINER":
			return fmt.Errorf("%s isn't allowed as an ONBUILD trigger", t)
		default:
			c.OnBuild = append(c.OnBuild, strings.TrimSpace(t+" "+strings.TrimSpace(trigger)))
		}
	case "healthcheck":
		hc, err := healthcheck(rest)
		if err != nil {
			return err
		}
		c.Healthcheck = hc
	default:
		return fmt.Errorf("%s is not a valid change command", instr)
	}
	return nil
}

// commandLine is CMD's or ENTRYPOINT's argument: a JSON array (exec form), or a command for the shell.
func commandLine(c *container.Config, rest string) []string {
	if args, ok := jsonArray(rest); ok {
		return args
	}
	shell := c.Shell
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), shell...), rest)
}

func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// keyValues parses ENV's or LABEL's "k=v k2=v2" (or the legacy "k v…" form) into pairs.
func keyValues(instr, rest string, env map[string]string) ([][2]string, error) {
	words, err := shellWords(rest, env)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", strings.ToUpper(instr))
	}
	if !strings.Contains(words[0], "=") { // legacy: ENV key the rest of the line
		key, val, _ := strings.Cut(rest, " ")
		if strings.TrimSpace(val) == "" {
			return nil, fmt.Errorf("%s names can not be blank", strings.ToUpper(instr))
		}
		vw, err := shellWords(val, env)
		if err != nil {
			return nil, err
		}
		return [][2]string{{key, strings.Join(vw, " ")}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s names can not be blank", strings.ToUpper(instr))
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellWords splits s into words as a Dockerfile does: whitespace outside quotes separates, quotes are removed,
// a backslash escapes, and $VAR and ${VAR} (outside single quotes) are replaced from env.
func shellWords(s string, env map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching single-quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case ch == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch {
				case s[j] == '\\' && j+1 < len(s) && strings.IndexByte(`"\$`, s[j+1]) >= 0:
					j++
					cur.WriteByte(s[j])
				case s[j] == '$':
					j = expand(s, j, env, &cur)
				default:
					cur.WriteByte(s[j])
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching double-quote")
			}
			i = j
		case ch == '$':
			i = expand(s, i, env, &cur)
		default:
			cur.WriteByte(ch)
		}
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// expand writes the value of the variable at s[i] ('$') and returns the index of its last byte.
func expand(s string, i int, env map[string]string, w *strings.Builder) int {
	if i+1 < len(s) && s[i+1] == '{' {
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			w.WriteByte('$')
			return i
		}
		name := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(name, ":-")
		v, ok := env[name]
		if (!ok || v == "") && hasDef {
			v = def
		}
		w.WriteString(v)
		return i + 2 + end
	}
	j := i + 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == i+1 {
		w.WriteByte('$')
		return i
	}
	w.WriteString(env[s[i+1:j]])
	return j - 1
}

// exposed parses EXPOSE's "80", "53/udp" or "8000-8002/tcp".
func exposed(spec string) ([]network.Port, error) {
	proto := "tcp"
	if p, pr, ok := strings.Cut(spec, "/"); ok {
		spec, proto = p, strings.ToLower(pr)
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || b < a {
		return nil, fmt.Errorf("invalid containerPort: %s", spec)
	}
	var out []network.Port
	for n := a; n <= b; n++ {
		p, err := network.ParsePort(fmt.Sprintf("%d/%s", n, proto))
		if err != nil {
			return nil, fmt.Errorf("invalid port %d/%s: %v", n, proto, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// healthcheck parses HEALTHCHECK NONE or HEALTHCHECK [--interval=… --timeout=… --start-period=… --start-interval=…
// --retries=…] CMD command.
func healthcheck(rest string) (*container.HealthConfig, error) {
	if strings.EqualFold(strings.TrimSpace(rest), "none") {
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	hc := &container.HealthConfig{}
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		rest = strings.TrimSpace(after)
		k, v, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		var d time.Duration
		var err error
		if k != "retries" {
			d, err = time.ParseDuration(v)
		}
		switch k {
		case "interval":
			hc.Interval = d
		case "timeout":
			hc.Timeout = d
		case "start-period":
			hc.StartPeriod = d
		case "start-interval":
			hc.StartInterval = d
		case "retries":
			hc.Retries, err = strconv.Atoi(v)
		default:
			return nil, fmt.Errorf("unknown flag: --%s", k)
		}
		if err != nil {
			return nil, fmt.Errorf("HEALTHCHECK --%s: %v", k, err)
		}
	}
	word, cmd, _ := strings.Cut(rest, " ")
	if !strings.EqualFold(word, "cmd") || strings.TrimSpace(cmd) == "" {
		return nil, fmt.Errorf("unknown type for healthcheck: %s", strings.ToUpper(word))
	}
	if args, ok := jsonArray(strings.TrimSpace(cmd)); ok {
		hc.Test = append([]string{"CMD"}, args...)
	} else {
		hc.Test = []string{"CMD-SHELL", strings.TrimSpace(cmd)}
	}
	return hc, nil
}
