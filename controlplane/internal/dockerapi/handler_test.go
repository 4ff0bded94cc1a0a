package dockerapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/networks"
	"github.com/runsock/runsock/controlplane/internal/store"
	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// The launcher and image resolver are containerstest's fakes: these unit tests exercise the HTTP layer and the
// lifecycle against the real Firestore emulator; the real Cloud Run driver and registry are exercised end to end in
// integration/ on gcpsim.

type fakeLogs struct{}

func (fakeLogs) Logs(ctx context.Context, t containers.LogTarget, o containers.LogOptions) iter.Seq2[containers.LogLine, error] {
	return func(yield func(containers.LogLine, error) bool) {
		if yield(containers.LogLine{Stream: 1, Time: time.Unix(1, 0), Data: []byte("out\n")}, nil) {
			yield(containers.LogLine{Stream: 2, Time: time.Unix(2, 0), Data: []byte("err\n")}, nil)
		}
	}
}

// noObjects is a volumes bucket holding nothing: the handler tests see volume records, not files (the volumes
// package's own tests use gcpsim's Cloud Storage).
type noObjects struct{}

func (noObjects) DeletePrefix(context.Context, string) (int64, error)         { return 0, nil }
func (noObjects) Usage(context.Context, string) (int64, error)                { return 0, nil }
func (noObjects) List(context.Context, string, int) ([]volumes.Object, error) { return nil, nil }
func (noObjects) Put(context.Context, string, io.Reader, int64) (int64, error) {
	return 0, errdefs.ErrNotImplemented
}
func (noObjects) PutSymlink(context.Context, string, string) (int64, error) {
	return 0, errdefs.ErrNotImplemented
}
func (noObjects) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errdefs.ErrNotFound
}

type env struct {
	url   string
	l     *containerstest.Launcher
	store *store.Store
	svc   *containers.Service
	h     *dockerapi.Handler
}

// setup serves the Docker API on the emulator with fakes for Cloud Run, images and logs; opts adjust the handler's
// options (the agent and images backends are nil unless an opt sets them).
func setup(t *testing.T, opts ...func(*dockerapi.Options)) *env {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	b := make([]byte, 6)
	rand.Read(b)
	st, err := store.Open(context.Background(), "runsock-test-"+hex.EncodeToString(b), "", os.Getenv("FIRESTORE_EMULATOR_HOST"))
	if err != nil {
		t.Fatal(err)
	}
	l := containerstest.NewLauncher()
	vols := volumes.New(st.Client(), volumes.Config{Bucket: "test-volumes", Objects: noObjects{}})
	nets := networks.New(networks.Options{Store: st, Records: st})
	svc := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}, Logs: fakeLogs{}, Volumes: vols, Networks: nets})
	vols.SetUsers(svc)
	nets.SetContainers(svc)
	o := dockerapi.Options{Containers: svc, Volumes: vols, Networks: nets, Info: dockerapi.Info{Project: "p", Region: "r", MaxCPU: 8, MaxMemory: 32 << 30}}
	for _, f := range opts {
		f(&o)
	}
	h := dockerapi.New(o)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Tests name the caller in a header; the real identity middleware verifies a token.
		who := r.Header.Get("X-Test-User")
		if who == "" {
			who = "alice@example.com"
		}
		h.ServeHTTP(w, r.WithContext(identity.WithPrincipal(r.Context(), identity.Principal{Email: who})))
	}))
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })
	return &env{url: srv.URL, l: l, store: st, svc: svc, h: h}
}

func (e *env) do(t *testing.T, method, path, body string, user ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(user) > 0 {
		req.Header.Set("X-Test-User", user[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, sb.String()
}

func (e *env) create(t *testing.T, name string, user ...string) string {
	t.Helper()
	resp, body := e.do(t, "POST", "/v1.51/containers/create?name="+name, `{"Image":"alpine","Cmd":["echo","hi"],"Labels":{"team":"a"}}`, user...)
	if resp.StatusCode != 201 {
		t.Fatalf("create %s: %d %s", name, resp.StatusCode, body)
	}
	var cr container.CreateResponse
	json.Unmarshal([]byte(body), &cr)
	return cr.ID
}

func TestPingAndVersions(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/_ping", 200}, {"HEAD", "/_ping", 200}, {"GET", "/v1.24/_ping", 200}, {"GET", "/v1.51/_ping", 200},
		{"GET", "/v1.44/version", 200}, {"GET", "/v1.12/_ping", 400}, {"GET", "/v1.52/_ping", 400}, {"GET", "/v1.51/nope", 404},
	} {
		resp, body := e.do(t, tc.method, tc.path, "")
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
		}
		if resp.Header.Get("Api-Version") != "1.51" {
			t.Errorf("%s: Api-Version %q", tc.path, resp.Header.Get("Api-Version"))
		}
	}
	resp, body := e.do(t, "GET", "/_ping", "")
	for k, v := range map[string]string{"Ostype": "linux", "Docker-Experimental": "false", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"} {
		if resp.Header.Get(k) != v {
			t.Errorf("ping header %s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	if body != "OK" {
		t.Errorf("ping body %q", body)
	}
}

func TestBadInput(t *testing.T) {
	e := setup(t)
	e.create(t, "taken")
	long := `{"Image":"alpine","HostConfig":{"NanoCpus":1000000000,"Memory":17179869184}}`
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"malformed JSON", "POST", "/containers/create", `{"Image":`, 400, "invalid JSON"},
		{"invalid name", "POST", "/containers/create?name=-bad!", `{"Image":"alpine"}`, 400, "Invalid container name (-bad!)"},
		{"name in use", "POST", "/containers/create?name=taken", `{"Image":"alpine"}`, 409, `The container name "/taken" is already in use`},
		{"unknown image", "POST", "/containers/create", `{"Image":"nosuch:1"}`, 404, "No such image: nosuch:1"},
		{"impossible resources", "POST", "/containers/create", long, 400, "at most 4GiB of memory with 1 CPUs"},
		{"bind mounts refused", "POST", "/containers/create", `{"Image":"alpine","HostConfig":{"Binds":["/a:/b"]}}`, 400, "cannot bind-mount /a"},
		{"unknown container", "GET", "/containers/nosuch/json", "", 404, "No such container: nosuch"},
		{"bad filter key", "GET", "/containers/json?filters=" + url.QueryEscape(`{"bogus":["x"]}`), "", 400, "invalid filter 'bogus'"},
		{"bad filter JSON", "GET", "/containers/json?filters=notjson", "", 400, "invalid filters"},
		{"bad status", "GET", "/containers/json?filters=" + url.QueryEscape(`{"status":["zzz"]}`), "", 400, "invalid filter 'status=zzz'"},
		{"start unknown", "POST", "/v1.51/containers/nosuch/start", "", 404, "No such container: nosuch"},
		{"exec without agent", "GET", "/exec/abc/json", "", 409, "need the runsock agent"},
		{"bad wait condition", "POST", "/containers/taken/wait?condition=soon", "", 400, "invalid condition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, tc.body)
			var m struct{ Message string }
			json.Unmarshal([]byte(body), &m)
			if resp.StatusCode != tc.code || !strings.Contains(m.Message, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, body, tc.code, tc.msg)
			}
		})
	}
}

func TestConcurrentCreatesOneName(t *testing.T) {
	e := setup(t)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.do(t, "POST", "/containers/create?name=once", `{"Image":"alpine"}`)
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	n := map[int]int{}
	for _, c := range codes {
		n[c]++
	}
	if n[201] != 1 || n[409] != 19 {
		t.Fatalf("status counts %v, want one 201 and nineteen 409", n)
	}
}

func list(t *testing.T, e *env, query string, user ...string) []container.Summary {
	t.Helper()
	resp, body := e.do(t, "GET", "/containers/json?"+query, "", user...)
	if resp.StatusCode != 200 {
		t.Fatalf("list %s: %d %s", query, resp.StatusCode, body)
	}
	var out []container.Summary
	json.Unmarshal([]byte(body), &out)
	return out
}

func TestListFiltersAndPrefixes(t *testing.T) {
	e := setup(t)
	a := e.create(t, "web1")
	b := e.create(t, "db1")
	e.create(t, "other", "bob@example.com")
	if resp, body := e.do(t, "POST", "/containers/web1/start", ""); resp.StatusCode != 204 {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, "POST", "/containers/web1/start", ""); resp.StatusCode != 304 {
		t.Fatalf("second start: %d, want 304", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"running only", "", []string{a}},
		{"all", "all=1", []string{b, a}},
		{"name new encoding", "all=1&filters=" + url.QueryEscape(`{"name":["db"]}`), []string{b}},
		{"name old encoding", "all=1&filters=" + url.QueryEscape(`{"name":{"db":true}}`), []string{b}},
		{"status exited none", "filters=" + url.QueryEscape(`{"status":["created"]}`), []string{b}},
		{"label", "all=1&filters=" + url.QueryEscape(`{"label":["team=a"]}`), []string{b, a}},
		{"image label merged", "all=1&filters=" + url.QueryEscape(`{"label":["img"]}`), []string{b, a}},
		{"id prefix", "all=1&filters=" + url.QueryEscape(`{"id":["`+a[:10]+`"]}`), []string{a}},
		{"ancestor", "all=1&filters=" + url.QueryEscape(`{"ancestor":["alpine"]}`), []string{b, a}},
		{"limit", "limit=1", []string{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(t, e, tc.query)
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}
	// Prefix resolution, names with and without slash; bob cannot see alice's container.
	for _, ref := range []string{a, a[:8], "web1", "%2Fweb1"} {
		if resp, body := e.do(t, "GET", "/containers/"+ref+"/json", ""); resp.StatusCode != 200 {
			t.Errorf("inspect %s: %d %s", ref, resp.StatusCode, body)
		}
	}
	if resp, _ := e.do(t, "GET", "/containers/"+a+"/json", "", "bob@example.com"); resp.StatusCode != 404 {
		t.Errorf("bob sees alice's container: %d", resp.StatusCode)
	}
	if got := list(t, e, "all=1", "bob@example.com"); len(got) != 1 || got[0].Names[0] != "/other" {
		t.Errorf("bob's list: %+v", got)
	}
}

func TestInspectMergesImageConfig(t *testing.T) {
	e := setup(t)
	id := e.create(t, "mm")
	_, body := e.do(t, "GET", "/containers/mm/json", "")
	var ins container.InspectResponse
	if err := json.Unmarshal([]byte(body), &ins); err != nil {
		t.Fatal(err)
	}
	if ins.ID != id || ins.Name != "/mm" || ins.Path != "echo" || ins.State.Status != "created" ||
		fmt.Sprint(ins.Config.Env) != "[PATH=/bin A=1]" || ins.Config.Labels["img"] != "yes" || len(ins.Config.ExposedPorts) != 1 {
		t.Fatalf("inspect: %s", body)
	}
}

func TestInspectShowsResourcesAsAskedAndLabelsWhatIsGranted(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name, hostConfig string
		memory, nano     int64
		cpu, mem         string
	}{
		{"small", `{"Memory":67108864}`, 64 << 20, 0, "1", "512Mi"},
		{"unset", `{}`, 0, 0, "1", "512Mi"},
		{"three cpus", `{"NanoCpus":3000000000,"Memory":1073741824}`, 1 << 30, 3e9, "4", "2048Mi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "res-" + strings.ReplaceAll(tc.name, " ", "-")
			resp, body := e.do(t, "POST", "/containers/create?name="+name, `{"Image":"alpine","HostConfig":`+tc.hostConfig+`}`)
			if resp.StatusCode != 201 {
				t.Fatalf("create: %d %s", resp.StatusCode, body)
			}
			_, body = e.do(t, "GET", "/containers/"+name+"/json", "")
			var ins container.InspectResponse
			if err := json.Unmarshal([]byte(body), &ins); err != nil {
				t.Fatal(err)
			}
			if ins.HostConfig.Memory != tc.memory || ins.HostConfig.NanoCPUs != tc.nano {
				t.Errorf("HostConfig Memory %d NanoCpus %d, want as asked: %d %d", ins.HostConfig.Memory, ins.HostConfig.NanoCPUs, tc.memory, tc.nano)
			}
			if l := ins.Config.Labels; l[containers.LabelGrantedCPU] != tc.cpu || l[containers.LabelGrantedMemory] != tc.mem {
				t.Errorf("labels %v, want granted cpu %s memory %s", l, tc.cpu, tc.mem)
			}
		})
	}
}

func TestRunLifecycle(t *testing.T) {
	e := setup(t)
	resp, body := e.do(t, "POST", "/containers/create?name=rr", `{"Image":"alpine","HostConfig":{"AutoRemove":true}}`)
	if resp.StatusCode != 201 {
		t.Fatal(body)
	}
	// wait(next-exit) answers its headers before the container even starts, as the CLI needs.
	waitDone := e.waitInBackground(t, "rr", "removed")
	if resp, body := e.do(t, "POST", "/containers/rr/start", ""); resp.StatusCode != 204 {
		t.Fatalf("start: %s", body)
	}
	if resp, body := e.do(t, "DELETE", "/containers/rr", ""); resp.StatusCode != 409 || !strings.Contains(body, "container is running") {
		t.Fatalf("rm running: %d %s", resp.StatusCode, body)
	}
	e.l.Finish("projects/p/locations/r/jobs/j/executions/e1", containers.Outcome{ExitCode: 3, FinishedAt: time.Now()})
	select {
	case body := <-waitDone:
		if !strings.Contains(body, `"StatusCode":3`) {
			t.Fatalf("wait: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not end after exit + auto-remove")
	}
	if resp, _ := e.do(t, "GET", "/containers/rr/json", ""); resp.StatusCode != 404 {
		t.Fatalf("auto-remove left the container: %d", resp.StatusCode)
	}
	ops := e.store.Ops()
	t.Logf("Firestore ops for create+wait+start+exit+auto-remove: %+v", ops)
}

// waitInBackground starts POST /containers/{name}/wait?condition=… and gives it time to register; the channel
// receives the body.
func (e *env) waitInBackground(t *testing.T, name, condition string) <-chan string {
	done := make(chan string, 1)
	go func() {
		_, body := e.do(t, "POST", "/containers/"+name+"/wait?condition="+condition, "")
		done <- body
	}()
	time.Sleep(200 * time.Millisecond)
	return done
}

// `docker run --rm` waits for the removal after a failed start: as Docker does, the container is removed.
func TestFailedStartRemovesAnAutoRemoveContainer(t *testing.T) {
	e := setup(t)
	if resp, body := e.do(t, "POST", "/containers/create?name=rm-fail", `{"Image":"alpine","HostConfig":{"AutoRemove":true}}`); resp.StatusCode != 201 {
		t.Fatal(body)
	}
	waitDone := e.waitInBackground(t, "rm-fail", "removed")
	e.l.SetFail(fmt.Errorf("run job j: Cloud Run Admin API down: %w", errdefs.ErrUnavailable))
	defer e.l.SetFail(nil)
	if resp, body := e.do(t, "POST", "/containers/rm-fail/start", ""); resp.StatusCode != 503 || !strings.Contains(body, "Admin API") {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	select {
	case <-waitDone:
	case <-time.After(10 * time.Second):
		t.Fatal("wait(removed) did not end after the failed start")
	}
	if resp, _ := e.do(t, "GET", "/containers/rm-fail/json", ""); resp.StatusCode != 404 {
		t.Fatalf("the container outlived its failed start: %d", resp.StatusCode)
	}
}

func TestStopRenameLogsPrune(t *testing.T) {
	e := setup(t)
	e.create(t, "ss")
	e.do(t, "POST", "/containers/ss/start", "")
	if resp, body := e.do(t, "POST", "/containers/ss/stop?t=1", ""); resp.StatusCode != 204 {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, "POST", "/containers/ss/stop", ""); resp.StatusCode != 304 {
		t.Fatalf("second stop: %d", resp.StatusCode)
	}
	_, body := e.do(t, "GET", "/containers/ss/json", "")
	if !strings.Contains(body, `"ExitCode":137`) || !strings.Contains(body, `"Status":"exited"`) {
		t.Fatalf("after stop: %s", body)
	}
	if resp, body := e.do(t, "POST", "/containers/ss/rename?name=ss2", ""); resp.StatusCode != 204 {
		t.Fatalf("rename: %s", body)
	}
	resp, logs := e.do(t, "GET", "/containers/ss2/logs?stdout=1&stderr=1&timestamps=1", "")
	want := "\x01\x00\x00\x00\x00\x00\x00\x23" + "1970-01-01T00:00:01.000000000Z out\n"
	if resp.StatusCode != 200 || !strings.HasPrefix(logs, want) || !strings.Contains(logs, "\x02\x00\x00\x00") {
		t.Fatalf("logs: %d %q", resp.StatusCode, logs)
	}
	resp, body = e.do(t, "POST", "/containers/prune", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"ContainersDeleted":["`) {
		t.Fatalf("prune: %s", body)
	}
	if got := list(t, e, "all=1"); len(got) != 0 {
		t.Fatalf("after prune: %+v", got)
	}
}
