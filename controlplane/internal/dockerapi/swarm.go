package dockerapi

import (
	"net/http"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// runsock is never a swarm node: Cloud Run runs its containers, not a swarm. Swarm mode's routes answer what a
// Docker Engine outside a swarm answers (Docker 20.10 and 28 alike, checked on the reference engine): 503 "not a
// swarm manager", and 503 "not part of a swarm" for leave. Init and join, which a Docker Engine would carry out,
// runsock refuses with 501.

// errNotSwarmManager is Docker's own answer, word for word (moby daemon/cluster errors.go: errNoManager).
var errNotSwarmManager = &errkind.Error{Kind: errdefs.ErrUnavailable,
	Msg: `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`}

// errNotInSwarm is Docker's answer to a leave outside a swarm (moby daemon/cluster errors.go: errNoSwarm).
var errNotInSwarm = &errkind.Error{Kind: errdefs.ErrUnavailable, Msg: "This node is not part of a swarm"}

var errNoSwarmMode = &errkind.Error{Kind: errdefs.ErrNotImplemented,
	Msg: "runsock runs containers as Cloud Run Job executions and cannot join or form a swarm"}

func (h *Handler) swarmRoutes() {
	notManager := func(w http.ResponseWriter, r *http.Request, p identity.Principal) error { return errNotSwarmManager }
	for _, route := range []string{
		"GET /swarm", "GET /swarm/unlockkey", "POST /swarm/update", "POST /swarm/unlock",
		"GET /nodes", "GET /nodes/{id}", "DELETE /nodes/{id}", "POST /nodes/{id}/update",
		"GET /services", "POST /services/create", "GET /services/{id}", "DELETE /services/{id}",
		"POST /services/{id}/update", "GET /services/{id}/logs",
		"GET /tasks", "GET /tasks/{id}", "GET /tasks/{id}/logs",
		"GET /secrets", "POST /secrets/create", "GET /secrets/{id}", "DELETE /secrets/{id}", "POST /secrets/{id}/update",
		"GET /configs", "POST /configs/create", "GET /configs/{id}", "DELETE /configs/{id}", "POST /configs/{id}/update",
	} {
		h.handle(route, notManager)
	}
	h.handle("POST /swarm/leave", func(w http.ResponseWriter, r *http.Request, p identity.Principal) error { return errNotInSwarm })
	for _, route := range []string{"POST /swarm/init", "POST /swarm/join"} {
		h.handle(route, func(w http.ResponseWriter, r *http.Request, p identity.Principal) error { return errNoSwarmMode })
	}
}
