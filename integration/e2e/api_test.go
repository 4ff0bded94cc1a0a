package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

// What the docker CLI prints for swarm mode and plugins is what it prints against a Docker Engine outside a swarm
// with no plugins: the same words, the same exit code (before, runsock answered "page not found").
func TestSwarmAndPluginCommandsAnswerAsDocker(t *testing.T) {
	refHost := referenceHost(t)
	for _, args := range [][]string{
		{"service", "ls"}, {"node", "ls"}, {"secret", "ls"}, {"config", "ls"}, {"stack", "ls"},
		{"swarm", "leave"}, {"plugin", "ls"}, {"plugin", "inspect", "nosuch"}, {"plugin", "rm", "nosuch"},
	} {
		want := dockerAs(t, refHost, "", args...)
		got := docker(t, args...)
		if got.code != want.code || got.stdout != want.stdout || got.stderr != want.stderr {
			t.Errorf("docker %s:\nrunsock %s\ndocker  %s", strings.Join(args, " "), got, want)
		}
	}
	if r := docker(t, "system", "df"); r.code != 0 || !strings.Contains(r.stdout, "Build Cache") {
		t.Errorf("docker system df: %s", r)
	}
}

// GET /distribution/{name}/json describes what the registry holds, as Docker reads it: the same manifest (digest,
// media type, size) and platforms for the same image; docker history lists the same steps.
func TestDistributionInspectAndHistoryAsDocker(t *testing.T) {
	refHost := referenceHost(t)
	ref, rs := newEngine(t, "docker", refHost), newEngine(t, "runsock", stack.dockerHost)
	refImage, rsImage := sameAlpine(t)
	var want, got registry.DistributionInspect
	ref.must(t, "GET", "/distribution/"+refImage+"/json", nil, &want)
	rs.must(t, "GET", "/distribution/"+rsImage+"/json", nil, &got)
	wj, _ := json.Marshal(want.Descriptor)
	gj, _ := json.Marshal(got.Descriptor)
	if string(wj) != string(gj) {
		t.Errorf("distribution inspect's descriptor:\nrunsock %s\ndocker  %s", gj, wj)
	}
	// Docker 20.10 (the reference engine here) reads platforms only from Docker schema-2 manifests and indexes, and
	// answers null for an OCI image manifest; later Docker reads the config's platform for either, as runsock does.
	if len(want.Platforms) > 0 || got.Platforms != nil {
		wp, _ := json.Marshal(want.Platforms)
		gp, _ := json.Marshal(got.Platforms)
		if len(want.Platforms) > 0 && string(wp) != string(gp) {
			t.Errorf("distribution inspect's platforms:\nrunsock %s\ndocker  %s", gp, wp)
		}
		if len(want.Platforms) == 0 && (len(got.Platforms) != 1 || got.Platforms[0].OS != "linux") {
			t.Errorf("distribution inspect's platforms: %s, want the image's one (linux)", gp)
		}
	}
	if code, body := rs.call(t, "GET", "/distribution/nosuch.example/x/json", nil, nil); code < 400 || !strings.HasPrefix(string(body), `{"message":`) {
		t.Errorf("distribution of a registry that does not exist: %d %s", code, body)
	}

	var wantH, gotH []image.HistoryResponseItem
	ref.must(t, "GET", "/images/"+refImage+"/history", nil, &wantH)
	rs.must(t, "GET", "/images/"+rsImage+"/history", nil, &gotH)
	if len(gotH) != len(wantH) || len(gotH) == 0 || gotH[0].ID != wantH[0].ID {
		t.Fatalf("history:\nrunsock %+v\ndocker  %+v", gotH, wantH)
	}
	for i := range wantH {
		if gotH[i].CreatedBy != wantH[i].CreatedBy || gotH[i].Created != wantH[i].Created || (gotH[i].Size == 0) != (wantH[i].Size == 0) {
			t.Errorf("history step %d:\nrunsock %+v\ndocker  %+v", i, gotH[i], wantH[i])
		}
	}
	if r := docker(t, "history", rsImage); r.code != 0 || !strings.Contains(r.stdout, "CREATED BY") {
		t.Errorf("docker history: %s", r)
	}
}

// An unknown log driver is refused at create with Docker's words, and nothing is created.
func TestUnknownLogDriverRefusedAsDocker(t *testing.T) {
	refHost := referenceHost(t)
	refImage, rsImage := sameAlpine(t)
	name := uniqueName("logdrv")
	want := dockerAs(t, refHost, "", "create", "--name", name, "--log-driver", "bogus", refImage, "true")
	t.Cleanup(func() { dockerAs(t, refHost, "", "rm", "-f", name) })
	got := docker(t, "create", "--name", name, "--log-driver", "bogus", rsImage, "true")
	removeOnCleanup(t, name)
	if got.code != want.code || got.stderr != want.stderr || got.code == 0 {
		t.Fatalf("create --log-driver bogus:\nrunsock %s\ndocker  %s", got, want)
	}
	if r := docker(t, "inspect", name); r.code == 0 {
		t.Fatalf("the refused create left a container: %s", r.stdout)
	}
	if r := docker(t, "create", "--name", name, "--log-driver", "local", rsImage, "true"); r.code != 0 {
		t.Fatalf("create --log-driver local (a driver Docker has): %s", r)
	}
	if got := inspectField(t, name, "{{.HostConfig.LogConfig.Type}}"); got != "local" {
		t.Errorf("LogConfig.Type %q, want local", got)
	}
}

// container prune reports the space its containers' files took, as Docker does: a container that wrote 100 KiB
// frees about 100 KiB on both.
func TestContainerPruneReportsSpaceReclaimed(t *testing.T) {
	refHost := referenceHost(t)
	ref, rs := newEngine(t, "docker", refHost), newEngine(t, "runsock", stack.dockerHost)
	refImage, rsImage := sameAlpine(t)
	label := uniqueName("prune")
	const wrote = 100 << 10
	reclaimed := map[string]uint64{}
	for _, side := range []struct {
		e           *apiEngine
		host, image string
	}{{ref, refHost, refImage}, {rs, stack.dockerHost, rsImage}} {
		name := uniqueName("pruned")
		if r := dockerAs(t, side.host, "", "run", "--name", name, "-l", label+"=1", side.image,
			"dd", "if=/dev/zero", "of=/big", "bs=1024", "count=100"); r.code != 0 {
			t.Fatalf("%s: run: %s", side.e.name, r)
		}
		host := side.host
		t.Cleanup(func() { dockerAs(t, host, "", "rm", "-f", name) })
		// runsock keeps an exited container's files once the agent's capture is stored, just after the exit.
		waitFor(t, time.Minute, side.e.name+": the container's changes", func() bool {
			return strings.Contains(dockerAs(t, host, "", "diff", name).stdout, "/big")
		})
		var rep container.PruneReport
		side.e.must(t, "POST", "/containers/prune?filters="+url.QueryEscape(`{"label":["`+label+`=1"]}`), nil, &rep)
		if len(rep.ContainersDeleted) != 1 {
			t.Fatalf("%s: pruned %v, want the one container", side.e.name, rep.ContainersDeleted)
		}
		reclaimed[side.e.name] = rep.SpaceReclaimed
	}
	for who, n := range reclaimed {
		if n < wrote || n > wrote+64<<10 {
			t.Errorf("%s reclaimed %d bytes, want about %d (all: %v)", who, n, wrote, reclaimed)
		}
	}
}
