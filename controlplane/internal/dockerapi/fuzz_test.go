package dockerapi_test

import (
	"bytes"
	"context"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// FuzzRoutes sends arbitrary paths, queries and bodies to every route the router lists (a new route is covered
// without editing this), with backends that find nothing: decoding and validating never panics and never fails as
// the server's fault (500); what the handler rejects is a 4xx with Docker's {"message": ...}.
func FuzzRoutes(f *testing.F) {
	h := dockerapi.New(dockerapi.Options{Containers: noContainers{}, Images: noImages{}, Agent: noAgent{}, Registry: noRegistry{},
		Info: dockerapi.Info{Project: "p", Region: "r", MaxCPU: 8, MaxMemory: 32 << 30}})
	routes := h.Routes()
	for i, route := range routes {
		f.Add(uint8(i), "c1", "", []byte(nil), false)
		if strings.HasPrefix(route, "POST ") {
			f.Add(uint8(i), "c1", `filters={"label":["a=b"]}&t=-1&signal=KILL&fromImage=alpine&tag=3`, []byte(`{"Image":"alpine","Cmd":["sh"],"HostConfig":{"Memory":-1}}`), true)
		}
	}
	f.Add(uint8(1), "x", `filters={"status":{"running":true}}&all=1&since=1s&until=-5&tail=all&height=-1&width=99999999999999999999`, []byte(`{"AttachStdin":true,"Tty":true,"Cmd":null}`), false)
	f.Add(uint8(2), "../../x", "filters=%7B", []byte(`{"Detach":true,"ConsoleSize":[1]}`), true)
	f.Fuzz(func(t *testing.T, route uint8, id, query string, body []byte, admin bool) {
		method, pattern, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		u := url.URL{Path: "/v1.51" + wildcard.ReplaceAllLiteralString(pattern, url.PathEscape(id)), RawQuery: query}
		req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req = req.WithContext(identity.WithPrincipal(ctx, identity.Principal{Email: "u@example.com", Admin: admin}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// 501: what runsock does not do; 503 from swarm mode's routes: Docker's own answer outside a swarm.
		swarm := rec.Code == http.StatusServiceUnavailable && strings.Contains(rec.Body.String(), "swarm")
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented && !swarm {
			t.Fatalf("%s %s (body %q): %d %s", method, u.String(), body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.HasPrefix(rec.Body.String(), `{"message":`) {
			t.Fatalf("%s %s: %d with body %q, not Docker's {\"message\": ...}", method, u.String(), rec.Code, rec.Body)
		}
	})
}

var wildcard = regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`)

// noContainers, noImages and noAgent are the backends, finding nothing.
type (
	noContainers struct{}
	noImages     struct{}
	noAgent      struct{}
	noRegistry   struct{}
)

func (noRegistry) Distribution(context.Context, string) (registry.DistributionInspect, error) {
	return registry.DistributionInspect{}, errNothing
}
func (noRegistry) History(context.Context, string, string) ([]image.HistoryResponseItem, error) {
	return nil, errNothing
}

var errNothing = errdefs.ErrNotFound

func (noContainers) Create(context.Context, identity.Principal, containers.CreateRequest) (*containers.Container, error) {
	return nil, errNothing
}
func (noContainers) Resolve(context.Context, identity.Principal, string) (*containers.Container, error) {
	return nil, errNothing
}
func (noContainers) List(context.Context, identity.Principal, containers.ListOptions) ([]*containers.Container, error) {
	return nil, nil
}
func (noContainers) Start(context.Context, identity.Principal, string) error { return errNothing }
func (noContainers) Stop(context.Context, identity.Principal, string, *int, string) error {
	return errNothing
}
func (noContainers) Kill(context.Context, identity.Principal, string, string) error {
	return errNothing
}
func (noContainers) Pause(context.Context, identity.Principal, string) error   { return errNothing }
func (noContainers) Unpause(context.Context, identity.Principal, string) error { return errNothing }
func (noContainers) Restart(context.Context, identity.Principal, string, *int, string) error {
	return errNothing
}
func (noContainers) Remove(context.Context, identity.Principal, string, bool) error {
	return errNothing
}
func (noContainers) Rename(context.Context, identity.Principal, string, string) error {
	return errNothing
}
func (noContainers) Update(context.Context, identity.Principal, string, container.UpdateConfig) ([]string, error) {
	return nil, errNothing
}
func (noContainers) Wait(context.Context, identity.Principal, string, container.WaitCondition, *containers.WaitCursor) (<-chan containers.WaitResult, containers.WaitCursor, error) {
	return nil, containers.WaitCursor{}, errNothing
}
func (noContainers) Prune(context.Context, identity.Principal, map[string][]string) (container.PruneReport, error) {
	return container.PruneReport{}, nil
}
func (noContainers) Logs(context.Context, identity.Principal, string, containers.LogOptions) (*containers.Container, iter.Seq2[containers.LogLine, error], error) {
	return nil, nil, errNothing
}
func (noContainers) Attach(context.Context, identity.Principal, string, bool, bool) (*containers.Container, func(context.Context) iter.Seq2[containers.LogLine, error], error) {
	return nil, nil, errNothing
}
func (noContainers) Events(context.Context, string, time.Time, time.Time) ([]containers.Event, <-chan containers.Event, error) {
	return nil, nil, errNothing
}

func (noImages) Pull(context.Context, string, dockerapi.PullRequest, func(jsonstream.Message) error) error {
	return errNothing
}
func (noImages) Inspect(context.Context, string, string) (image.InspectResponse, error) {
	return image.InspectResponse{}, errNothing
}
func (noImages) Tag(context.Context, string, string, string, string) error { return errNothing }
func (noImages) Delete(context.Context, string, string, dockerapi.ImageDeleteOptions) ([]image.DeleteResponse, error) {
	return nil, errNothing
}

func (noImages) List(context.Context, string, dockerapi.ImageListOptions) ([]image.Summary, error) {
	return nil, nil
}
func (noImages) Prune(context.Context, string, map[string][]string) (image.PruneReport, error) {
	return image.PruneReport{}, nil
}

func (noAgent) ExecCreate(context.Context, identity.Principal, string, container.ExecCreateRequest) (string, error) {
	return "", errNothing
}
func (noAgent) ExecCheck(context.Context, identity.Principal, string) (bool, error) {
	return false, errNothing
}
func (noAgent) ExecStart(context.Context, identity.Principal, string, container.ExecStartRequest, agentsessions.ExecIO) error {
	return errNothing
}
func (noAgent) ExecInspect(context.Context, identity.Principal, string) (container.ExecInspectResponse, error) {
	return container.ExecInspectResponse{}, errNothing
}
func (noAgent) ExecResize(context.Context, identity.Principal, string, uint, uint) error {
	return errNothing
}
func (noAgent) AgentContainer(context.Context, identity.Principal, string) (*containers.Container, bool, error) {
	return nil, false, errNothing
}
func (noAgent) AttachAgent(context.Context, *containers.Container, agentsessions.AttachOptions, agentsessions.AttachIO) error {
	return errNothing
}
func (noAgent) Resize(context.Context, identity.Principal, string, uint, uint) error {
	return errNothing
}
func (noAgent) Top(context.Context, identity.Principal, string, string) (container.TopResponse, error) {
	return container.TopResponse{}, errNothing
}
func (noAgent) Stats(context.Context, identity.Principal, string, *container.StatsResponse) (container.StatsResponse, error) {
	return container.StatsResponse{}, errNothing
}
func (noAgent) ArchiveStat(context.Context, identity.Principal, string, string) (container.PathStat, error) {
	return container.PathStat{}, errNothing
}
func (noAgent) ArchiveGet(context.Context, identity.Principal, string, string) (container.PathStat, io.ReadCloser, error) {
	return container.PathStat{}, nil, errNothing
}
func (noAgent) ArchivePut(context.Context, identity.Principal, string, string, io.Reader, bool, bool) error {
	return errNothing
}
func (noAgent) TunnelCheck(context.Context, identity.Principal, string) (*containers.Container, error) {
	return nil, errNothing
}
func (noAgent) Tunnel(context.Context, *containers.Container, int, io.ReadWriter) error {
	return errNothing
}
func (noAgent) Changes(context.Context, identity.Principal, string) ([]container.FilesystemChange, error) {
	return nil, errNothing
}
func (noAgent) Export(context.Context, identity.Principal, string) (io.ReadCloser, error) {
	return nil, errNothing
}
