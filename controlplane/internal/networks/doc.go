// Package networks owns Docker networks on runsock: the built-in bridge, host and none, and the user-defined
// networks each user creates (Firestore `networks`, names unique per owner, a loopback subnet 127.N.0.0/16 each),
// container endpoints on them (an address allocated in the network's record, aliases, links), connect and
// disconnect, and the overlay that makes members reach each other: Overlay computes, for every running container,
// the peers it may reach (their names, address and listening ports, as each agent reports them) and hands them to
// the container's agent through a Pusher; it authorises each relayed connection (both on one network, one owner).
//
// It declares what it needs: Store (network records; controlplane/internal/store implements it), Containers (the
// container records and resolution; containers.Service and the store), Pusher (the agent link; agentlink.Hub).
// It never imports the HTTP layer, Firestore, gRPC or the agent link.
//
// Goroutines: Overlay.Run follows the containers' events and recomputes peers (one goroutine, ended with its
// context); nothing else runs in the background.
package networks
