package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"
)

// apiEngine speaks the Engine API over a unix socket at the newest version both it and the caller know.
type apiEngine struct {
	name    string
	client  *http.Client
	version string
}

func newEngine(t *testing.T, name, host string) *apiEngine {
	t.Helper()
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Fatalf("%s: %s is not a unix socket address", name, host)
	}
	e := &apiEngine{name: name, client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}}
	var v struct {
		APIVersion string `json:"ApiVersion"`
	}
	e.must(t, "GET", "/version", nil, &v)
	e.version = min(v.APIVersion, "1.50") // both are "1.xx": string order is version order
	return e
}

// call sends one request; out, when not nil, receives the JSON reply.
func (e *apiEngine) call(t *testing.T, method, path string, body any, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	prefix := ""
	if e.version != "" {
		prefix = "/v" + e.version
	}
	req, _ := http.NewRequest(method, "http://engine"+prefix+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", e.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %s %s: %v in %s", e.name, method, path, err, b)
		}
	}
	return resp.StatusCode, b
}

func (e *apiEngine) must(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	if code, b := e.call(t, method, path, body, out); code >= 300 {
		t.Fatalf("%s: %s %s: %d %s", e.name, method, path, code, b)
	}
}

// dataKeyed are the objects whose keys are data (label names, ports, network names, runtimes...), not fields: their
// entries are compared as one shape, whatever they are called.
var dataKeyed = map[string]bool{
	"Labels": true, "Ports": true, "ExposedPorts": true, "PortBindings": true, "Volumes": true, "Networks": true,
	"Runtimes": true, "IndexConfigs": true, "GraphDriver.Data": true, "LogConfig.Config": true, "DriverOpts": true,
	"Details": true, "Options": true, "Status": true,
}

// notInAPI150 are keys the reference engine (Docker 20.10, API 1.41) sends that API v1.50 no longer documents
// (docker-engine-api-v1.50.yaml's definitions): a v1.50 server need not send them.
var notInAPI150 = map[string]bool{
	// HostConfig: KernelMemory was removed (API 1.42); KernelMemoryTCP is still documented.
	".HostConfig.KernelMemory": true,
	// ImageInspect: Container and ContainerConfig are gone (1.45); ImageConfig keeps only the image's own fields.
	".Container": true, ".ContainerConfig": true, ".Config.Hostname": true, ".Config.Domainname": true,
	".Config.AttachStdin": true, ".Config.AttachStdout": true, ".Config.AttachStderr": true, ".Config.Tty": true,
	".Config.OpenStdin": true, ".Config.StdinOnce": true, ".Config.Image": true,
	// SystemInfo: KernelMemory (1.42), the non-distributable artifacts settings (1.49), Commit.Expected (1.48).
	".KernelMemory": true, ".RegistryConfig.AllowNondistributableArtifactsCIDRs": true,
	".RegistryConfig.AllowNondistributableArtifactsHostnames": true, ".ContainerdCommit.Expected": true,
	".RuncCommit.Expected": true, ".InitCommit.Expected": true,
}

// shape flattens a JSON value into path → JSON type ("object", "array", "string", "number", "bool", "null"). Array
// elements and data-keyed entries are merged under "[]" and "*". Empty containers are marked, since nothing below
// them can be compared.
func shape(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		out[path] = "object"
		if len(x) == 0 {
			out[path] = "empty object"
		}
		field := path[strings.LastIndex(path, ".")+1:]
		parent := strings.TrimSuffix(path, "."+field)
		parentField := parent[strings.LastIndex(parent, ".")+1:]
		keyed := dataKeyed[field] || dataKeyed[parentField+"."+field]
		for k, e := range x {
			if keyed {
				k = "*"
			}
			shape(e, path+"."+k, out)
		}
	case []any:
		out[path] = "array"
		if len(x) == 0 {
			out[path] = "empty array"
		}
		for _, e := range x {
			shape(e, path+"[]", out)
		}
	case string:
		out[path] = "string"
	case float64:
		out[path] = "number"
	case bool:
		out[path] = "bool"
	case nil:
		out[path] = "null"
	}
}

// compareShapes lists what ref has and got lacks (or holds with another type), except what got cannot be
// compared under (an ancestor it has null or empty) and keys API v1.50 no longer documents.
func compareShapes(ref, got any) []string {
	r, g := map[string]string{}, map[string]string{}
	shape(ref, "", r)
	shape(got, "", g)
	var problems []string
	for path, rt := range r {
		if notInAPI150[strings.ReplaceAll(path, "[]", "")] || notInAPI150[path] {
			continue
		}
		if under(path, notInAPI150) || uncomparable(path, g) {
			continue
		}
		gt, ok := g[path]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s (%s)", path, rt))
		case rt != gt && !nullish(rt) && !nullish(gt):
			problems = append(problems, fmt.Sprintf("%s is %s, Docker's is %s", path, gt, rt))
		}
	}
	sort.Strings(problems)
	return problems
}

func nullish(t string) bool { return t == "null" || strings.HasPrefix(t, "empty ") }

// under reports whether path lies below one of roots.
func under(path string, roots map[string]bool) bool {
	for root := range roots {
		if strings.HasPrefix(path, root+".") || strings.HasPrefix(path, root+"[]") {
			return true
		}
	}
	return false
}

// uncomparable reports whether an ancestor of path is null or empty in g.
func uncomparable(path string, g map[string]string) bool {
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '.' || (path[i] == '[' && strings.HasPrefix(path[i:], "[]")) {
			if nullish(g[path[:i]]) {
				return true
			}
		}
	}
	return false
}

// The response shapes clients read — container inspect and list, exec inspect, info, version, image inspect —
// have every key (and value type) the reference Docker Engine's have for the same image and the same container,
// but those API v1.50 no longer documents.
func TestResponseShapesMatchDocker(t *testing.T) {
	refHost := referenceHost(t)
	ref, rs := newEngine(t, "docker", refHost), newEngine(t, "runsock", stack.dockerHost)
	refImage, rsImage := sameAlpine(t)
	name := uniqueName("shape")
	for _, side := range []struct {
		host, image string
	}{{refHost, refImage}, {stack.dockerHost, rsImage}} {
		if r := dockerAs(t, side.host, "", "run", "-d", "--name", name, "-p", "80", "-l", "shape=1", "-e", "A=b",
			"--health-cmd", "echo ok", "--health-interval", "1s", side.image, "sleep", "120"); r.code != 0 {
			t.Fatalf("run at %s: %s", side.host, r)
		}
		host := side.host
		t.Cleanup(func() { dockerAs(t, host, "", "rm", "-f", name) })
	}

	type reply struct {
		what string
		ref  any
		got  any
	}
	// State.Health with a result in its log on both, so the results' shape is compared too.
	for _, host := range []string{refHost, stack.dockerHost} {
		waitFor(t, 60*time.Second, "a health check result at "+host, func() bool {
			r := dockerAs(t, host, "", "inspect", "--format", "{{len .State.Health.Log}}", name)
			return r.code == 0 && strings.TrimSpace(r.stdout) != "0"
		})
	}
	var replies []reply
	get := func(what, refPath, rsPath string) {
		var a, b any
		ref.must(t, "GET", refPath, nil, &a)
		rs.must(t, "GET", rsPath, nil, &b)
		replies = append(replies, reply{what, a, b})
	}
	get("container inspect", "/containers/"+name+"/json", "/containers/"+name+"/json")
	list := "/containers/json?filters=" + url.QueryEscape(`{"name":["`+name+`"]}`)
	get("container list", list, list)
	get("info", "/info", "/info")
	get("version", "/version", "/version")
	get("image inspect", "/images/"+refImage+"/json", "/images/"+rsImage+"/json")

	// An exec that is still running when inspected, on both.
	execs := map[*apiEngine]string{}
	for _, e := range []*apiEngine{ref, rs} {
		var id common.IDResponse
		e.must(t, "POST", "/containers/"+name+"/exec", container.ExecCreateRequest{Cmd: []string{"sleep", "30"}, AttachStdout: true}, &id)
		e.must(t, "POST", "/exec/"+id.ID+"/start", container.ExecStartRequest{Detach: true}, nil)
		execs[e] = id.ID
	}
	get("exec inspect", "/exec/"+execs[ref]+"/json", "/exec/"+execs[rs]+"/json")

	// Data-keyed objects are compared by shape whatever their keys; the network a container is on must also be
	// named as Docker names it (clients read NetworkSettings.Networks.bridge).
	networks := func(inspect any) []string {
		var names []string
		ns, _ := inspect.(map[string]any)["NetworkSettings"].(map[string]any)
		for n := range ns["Networks"].(map[string]any) {
			names = append(names, n)
		}
		sort.Strings(names)
		return names
	}
	if want, got := networks(replies[0].ref), networks(replies[0].got); strings.Join(want, ",") != strings.Join(got, ",") {
		t.Errorf("container inspect: networks %v, Docker's %v", got, want)
	}
	for _, r := range replies {
		if problems := compareShapes(r.ref, r.got); len(problems) > 0 {
			t.Errorf("%s: %d differences from Docker's:\n  %s", r.what, len(problems), strings.Join(problems, "\n  "))
		}
	}
}

// sameAlpine names one image for both engines and pulls it on each: Docker Hub's alpine as gcpsim serves it, which
// runsock reaches through the Docker Hub remote repository and the reference engine directly.
func sameAlpine(t *testing.T) (refImage, rsImage string) {
	t.Helper()
	hub := os.Getenv("GCPSIM_DOCKERHUB")
	if hub == "" {
		t.Skip("GCPSIM_DOCKERHUB not set (source .dev/env)")
	}
	refImage, rsImage = hub+"/library/alpine:latest", "alpine:latest"
	for host, image := range map[string]string{referenceHost(t): refImage, stack.dockerHost: rsImage} {
		if r := dockerAs(t, host, "", "pull", "-q", image); r.code != 0 {
			t.Fatalf("pull %s at %s: %s", image, host, r)
		}
	}
	return refImage, rsImage
}
