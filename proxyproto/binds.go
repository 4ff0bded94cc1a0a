package proxyproto

import "net/url"

// # Bind mounts from the client's machine
//
// Only localproxy can read the files a bind (`-v /abs/path:/ctr`, `--mount type=bind`) names. Before it forwards a
// container create, it sends each bind's source as a tar stream (paths relative to the source) to
//
//	POST   BindsPath[?file=1]             body: tar → 201 {"Id": ID} (file=1: one file, a single-file bind)
//	GET    BindsPath/{id}/changes         → [{"Path", "Size", "Deleted"}] since the staging or the last sync
//	GET    BindsPath/{id}/files?path=P    → the file's bytes as the container left them
//	POST   BindsPath/{id}/synced          → 204: the current files become the reference for the next changes
//	DELETE BindsPath/{id}                 → 204
//
// and forwards the create with [StagedBindsHeader] naming, for each source path, the staging's ID. Every staging
// belongs to the authenticated caller: another user's ID names nothing of theirs (404).

// BindsPath is the control plane's route for staged binds.
const BindsPath = "/runsock/v1/binds"

// StagedBindsHeader carries a create's staged binds: EncodeStagedBinds of source path → staging ID.
const StagedBindsHeader = "X-Runsock-Staged-Binds"

// EncodeStagedBinds encodes source → ID for StagedBindsHeader.
func EncodeStagedBinds(m map[string]string) string {
	v := url.Values{}
	for src, id := range m {
		v.Set(src, id)
	}
	return v.Encode()
}

// DecodeStagedBinds reads StagedBindsHeader ("" is none).
func DecodeStagedBinds(h string) (map[string]string, error) {
	v, err := url.ParseQuery(h)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(v))
	for src, ids := range v {
		out[src] = ids[0]
	}
	return out, nil
}
