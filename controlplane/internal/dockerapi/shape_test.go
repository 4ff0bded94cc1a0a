package dockerapi_test

import (
	"encoding/json"
	"testing"
)

// Container inspect carries the keys clients read that moby's types leave out (the reference engine comparison is
// integration/e2e's TestResponseShapesMatchDocker): the legacy NetworkSettings addresses, HostConfig.Runtime,
// GraphDriver, and the network named as Docker names the default one.
func TestInspectCarriesDocumentedKeys(t *testing.T) {
	e := setup(t)
	id := e.create(t, "shaped")
	resp, body := e.do(t, "GET", "/v1.50/containers/"+id+"/json", "")
	if resp.StatusCode != 200 {
		t.Fatalf("inspect: %d %s", resp.StatusCode, body)
	}
	var m struct {
		HostConfig      map[string]any
		GraphDriver     map[string]any
		NetworkSettings map[string]any
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"IPAddress", "MacAddress", "Gateway", "Bridge", "SandboxKey", "HairpinMode", "SecondaryIPAddresses"} {
		if _, ok := m.NetworkSettings[k]; !ok {
			t.Errorf("NetworkSettings.%s missing", k)
		}
	}
	if m.HostConfig["Runtime"] != "cloudrun" || m.GraphDriver["Name"] != "cloudrun" {
		t.Errorf("HostConfig.Runtime %v, GraphDriver %v", m.HostConfig["Runtime"], m.GraphDriver)
	}
	nets, _ := m.NetworkSettings["Networks"].(map[string]any)
	bridge, ok := nets["bridge"].(map[string]any)
	if len(nets) != 1 || !ok || bridge["NetworkID"] == "" {
		t.Errorf("Networks %v, want the one bridge network with its ID", nets)
	}

	resp, body = e.do(t, "GET", "/v1.50/version", "")
	var v map[string]any
	json.Unmarshal([]byte(body), &v)
	if comps, _ := v["Components"].([]any); resp.StatusCode != 200 || len(comps) != 1 {
		t.Errorf("version: %d %s", resp.StatusCode, body)
	}
	for _, k := range []string{"GitCommit", "BuildTime"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version: %s missing", k)
		}
	}
}
