package dockerapi_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// The /volumes routes and a container's Mounts, as the docker CLI reads them, on the Firestore emulator.
func TestVolumeRoutes(t *testing.T) {
	e := setup(t)
	resp, body := e.do(t, "POST", "/v1.50/volumes/create", `{"Name":"data","Driver":"local","DriverOpts":{},"Labels":{"team":"a"}}`)
	var v volume.Volume
	if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &v) != nil || v.Name != "data" || v.Driver != "local" ||
		v.Scope != "local" || v.Labels["team"] != "a" || v.Mountpoint != "gs://test-volumes/v1/"+ownerKey("alice@example.com")+"/data/" || v.CreatedAt == "" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/v1.50/volumes?filters="+`%7B%22label%22%3A%7B%22team%3Da%22%3Atrue%7D%7D`, "")
	var list volume.ListResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Volumes) != 1 || list.Warnings == nil {
		t.Fatalf("list with the old filter encoding: %d %s", resp.StatusCode, body)
	}
	// Another user: no such volume, and an empty list.
	if resp, body := e.do(t, "GET", "/v1.50/volumes/data", "", "bob@example.com"); resp.StatusCode != 404 || body != `{"message":"get data: no such volume"}`+"\n" {
		t.Fatalf("bob inspects alice's volume: %d %q", resp.StatusCode, body)
	}
	if _, body := e.do(t, "GET", "/v1.50/volumes", "", "bob@example.com"); !strings.Contains(body, `"Volumes":[]`) {
		t.Fatalf("bob's list: %s", body)
	}

	// A container mounting it: Mounts in inspect and ps; rm of the volume 409 until the container is gone.
	resp, body = e.do(t, "POST", "/v1.50/containers/create?name=user", `{"Image":"alpine","HostConfig":{"Binds":["data:/data:ro"],"Tmpfs":{"/t":"size=1m"}}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create container: %d %s", resp.StatusCode, body)
	}
	var cr container.CreateResponse
	json.Unmarshal([]byte(body), &cr)
	_, body = e.do(t, "GET", "/v1.50/containers/user/json", "")
	var ins container.InspectResponse
	if json.Unmarshal([]byte(body), &ins) != nil || len(ins.Mounts) != 2 || ins.Mounts[0].Name != "data" || ins.Mounts[0].Type != "volume" ||
		ins.Mounts[0].RW || ins.Mounts[0].Mode != "ro" || ins.Mounts[0].Source != v.Mountpoint || ins.Mounts[1].Type != "tmpfs" || !ins.Mounts[1].RW {
		t.Fatalf("inspect Mounts: %+v", ins.Mounts)
	}
	resp, body = e.do(t, "DELETE", "/v1.50/volumes/data?force=1", "")
	if resp.StatusCode != 409 || !strings.Contains(body, "remove data: volume is in use - ["+cr.ID+"]") {
		t.Fatalf("rm in use: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "DELETE", "/v1.50/containers/user?v=1", ""); resp.StatusCode != 204 {
		t.Fatalf("rm -v container: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "GET", "/v1.50/volumes/data", ""); resp.StatusCode != 200 {
		t.Fatalf("rm -v removed the named volume: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "DELETE", "/v1.50/volumes/data", ""); resp.StatusCode != 204 {
		t.Fatalf("rm: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, "DELETE", "/v1.50/volumes/data", ""); resp.StatusCode != 404 {
		t.Fatalf("second rm: %d", resp.StatusCode)
	}

	// Docker's volume events, filtered by type and volume.
	now := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	_, body = e.do(t, "GET", "/v1.50/events?since=1&until="+now+"&filters="+url.QueryEscape(`{"type":["volume"],"volume":["data"]}`), "")
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		var m events.Message
		if json.Unmarshal([]byte(line), &m) == nil {
			actions = append(actions, string(m.Action)+" "+m.Actor.ID)
		}
	}
	// The container create naming the existing volume announces a create too, as the reference engine does.
	if strings.Join(actions, ",") != "create data,create data,destroy data" {
		t.Fatalf("volume events: %v (%s)", actions, body)
	}

	// Prune: anonymous volumes only unless all=true.
	e.do(t, "POST", "/v1.50/volumes/create", `{"Name":"named"}`)
	e.do(t, "POST", "/v1.50/containers/create?name=anon", `{"Image":"alpine","Volumes":{"/cache":{}}}`)
	e.do(t, "DELETE", "/v1.50/containers/anon", "")
	resp, body = e.do(t, "POST", "/v1.50/volumes/prune", "")
	var pr volume.PruneReport
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &pr) != nil || len(pr.VolumesDeleted) != 1 || len(pr.VolumesDeleted[0]) != 64 {
		t.Fatalf("prune: %d %s", resp.StatusCode, body)
	}
	if _, body := e.do(t, "POST", "/v1.50/volumes/prune?filters="+`%7B%22all%22%3A%5B%22true%22%5D%7D`, ""); !strings.Contains(body, `"named"`) {
		t.Fatalf("prune all=true: %s", body)
	}
}

func ownerKey(email string) string { return volumes.OwnerKey(email) }
