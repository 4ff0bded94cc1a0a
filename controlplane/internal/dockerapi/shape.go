package dockerapi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Docker's responses carry keys that moby's current Go types leave out (omitempty, or fields dropped after the API
// version runsock speaks) and that clients still read: docker-py and testcontainers read
// NetworkSettings.IPAddress and MacAddress, HostConfig.Runtime, an image's Parent and VirtualSize. Each reply below
// is moby's type, encoded, with the keys API v1.50 documents added where absent, holding what Docker itself answers
// when it has nothing to say there (an empty string, false, zero, null). integration/e2e's shape test holds them to
// a real Docker Engine's replies.

// withKeys encodes v as a JSON object and adds each key of keys ("A.B.C": a path through nested objects) that is
// absent, with its value; a path through a missing or null object is skipped (there is nothing to complete).
func withKeys(v any, keys map[string]any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode reply: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode reply: %w", err)
	}
	for path, val := range keys {
		addKey(m, strings.Split(path, "."), val)
	}
	return m, nil
}

func addKey(m map[string]any, path []string, val any) {
	if len(path) == 1 {
		if _, ok := m[path[0]]; !ok {
			m[path[0]] = val
		}
		return
	}
	if next, ok := m[path[0]].(map[string]any); ok {
		addKey(next, path[1:], val)
	}
}

// legacyNetworkSettings are NetworkSettings' keys from before per-network endpoints (API v1.50 documents them,
// deprecated; Docker fills them from the default bridge network's endpoint). Cloud Run gives a task its address
// privately, so runsock has none to show: Docker's values for a container with no endpoint.
func legacyNetworkSettings(prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range map[string]any{
		"Bridge": "", "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
		"SecondaryIPAddresses": nil, "SecondaryIPv6Addresses": nil, "EndpointID": "", "Gateway": "",
		"GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
		"MacAddress": "",
	} {
		out[prefix+k] = v
	}
	return out
}

// containerInspectKeys completes GET /containers/{id}/json.
func containerInspectKeys() map[string]any {
	keys := legacyNetworkSettings("NetworkSettings.")
	for k, v := range map[string]any{
		"HostConfig.KernelMemoryTCP": 0, "Config.OnBuild": nil,
	} {
		keys[k] = v
	}
	return keys
}

// imageInspectKeys completes GET /images/{name}/json: what an image pulled from a registry has no value for (no
// parent, no build container, no Docker version), and VirtualSize, the same as Size since API v1.44 made it so.
func imageInspectKeys(size int64) map[string]any {
	return map[string]any{
		"Parent": "", "Comment": "", "Author": "", "DockerVersion": "", "VirtualSize": size,
		"Config.Volumes": nil, "Config.Entrypoint": nil, "Config.OnBuild": nil, "Config.User": "", "Config.WorkingDir": "",
		"GraphDriver": map[string]any{"Name": "cloudrun", "Data": map[string]string{}},
	}
}

// execInspectKeys completes GET /exec/{id}/json: runsock runs no exec privileged.
var execInspectKeys = map[string]any{"ProcessConfig.privileged": false}

// infoKeys completes GET /info with what Docker reports of a host runsock does not have: no kernel memory
// accounting, no bridge netfilter, no kernel memory TCP limit.
var infoKeys = map[string]any{
	"KernelMemoryTCP": false, "BridgeNfIptables": false, "BridgeNfIp6tables": false, "CgroupVersion": "",
}
