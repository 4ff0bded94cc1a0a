// Package agentsessions is the control plane's gateway to the runsock agent in each container. It owns:
//
//   - giving a start the agent (Agent.Prepare): the agent-wrapped image (cached per reference), the agent as
//     entrypoint with the user's command as its arguments, a fresh one-time bootstrap and the RUNSOCK_* environment;
//   - the agents' credentials (Credentials, the agentlink.CredentialStore the Hub checks every agent stream
//     against): each container's current run — its execution, the bootstrap's hash until the agent's first link
//     spends it to bind the agent's own key, then that key's hash — read from committed records (never from a start
//     that may still lose) and cached until the run ends;
//   - the sessions a container has through its agent (Sessions): the exec registry (exec instances live in this
//     process's memory, as in Docker's daemon), attach with input and resize, archive (docker cp), top, stats and
//     published-port tunnels, each resolved for the caller through the containers Service first;
//   - the exits agents report first-hand, handed from the Hub to the containers Service (Sessions);
//   - the files of containers that are not running (files.go, through Files, *containerfs.Files): archives copied
//     into a created or exited one are staged and delivered to its agent at the next start (Agent.Prepare), and
//     the agent's capture of its changes is taken once its exit is recorded; cp, stat, diff and export of such a
//     container read its image's layers plus those (docs/files.md); a path at or below one of its volumes' mount
//     points is the volume's instead, read and written in Cloud Storage through VolumeFiles (*volumes.Files,
//     docs/volumes.md).
//
// It uses the containers Service and the agent link (agentlink.Hub) through the small interfaces it declares
// (Containers, Link); it never imports the HTTP layer, a cloud SDK or Firestore. containers never imports it: the
// lifecycle sees it only as a containers.Agent.
//
// Goroutines: an Agent runs one short-lived goroutine per removed container (its live output is deleted after
// livelogs.EndGrace, its staged archives at once) and one per start with staged archives (their delivery, bounded by
// linkproto.StagedWait); Sessions runs the exit-report loop, one goroutine per report being recorded (and its
// capture taken) and one per detached exec (started with Detach, or a TTY exec whose client may type the detach
// sequence: it runs on after the client has gone, output discarded, until the process exits); an attach to a TTY
// container with stdin runs one watching for the detach sequence. Both Close idempotently, cancelling and waiting for them.
package agentsessions
