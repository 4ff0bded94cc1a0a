// Package agentimage puts the runsock agent into any user image without Docker or Cloud Build: it appends one layer
// holding the static agent binary at /.runsock/agent (go-containerregistry mutate.Append), makes the agent the
// entrypoint run as root (it drops to the image's user for the main process and execs), keeps the image's Env and
// WorkingDir, and pushes the result to the team's registry as
// REPOSITORY/<hash of base digest + agent version>:agent, reusing it when it is already there (one HEAD).
// The user's entrypoint and cmd are returned so the launcher passes them after "--" as the job's args.
//
// Layers are streamed: the agent layer is built from the binary on the fly, base layers are mounted or copied by
// the registry client, never loaded whole. No goroutines outlive a call.
package agentimage
