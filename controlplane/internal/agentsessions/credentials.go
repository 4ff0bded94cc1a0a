package agentsessions

import (
	"context"
	"fmt"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

// ContainerReader reads a container's record; *store.Store implements it.
type ContainerReader interface {
	GetContainer(ctx context.Context, id string) (*containers.Container, error)
}

// Credentials are the agents' credentials: what a container's current start issued (kept from Agent.Prepare on, so
// the agent's first dial is accepted before the record is written), else what its record says. It exists before the
// Hub, which checks every agent stream against it, and before the Agent that issues them.
type Credentials struct {
	records ContainerReader
	cached  *cache[agentlink.AgentCredentials]
}

var _ agentlink.CredentialStore = (*Credentials)(nil)

// NewCredentials returns credentials read from records and cached.
func NewCredentials(records ContainerReader) *Credentials {
	return &Credentials{records: records, cached: newCache[agentlink.AgentCredentials]()}
}

// AgentCredentials implements agentlink.CredentialStore, with a cache: every agent stream authenticates, so this is
// on the path of every session.
func (c *Credentials) AgentCredentials(ctx context.Context, id string) (agentlink.AgentCredentials, error) {
	if cr, ok := c.cached.get(id); ok {
		return cr, nil
	}
	rec, err := c.records.GetContainer(ctx, id)
	if err != nil {
		return agentlink.AgentCredentials{}, fmt.Errorf("agent credentials of %s: %w", id, err)
	}
	if len(rec.Agent.SecretHash) == 0 {
		return agentlink.AgentCredentials{}, fmt.Errorf("container %s has no agent secret", id)
	}
	cr := agentlink.AgentCredentials{SecretHash: rec.Agent.SecretHash, ServiceAccount: rec.Agent.ServiceAccount}
	c.put(id, cr)
	return cr, nil
}

func (c *Credentials) put(id string, cr agentlink.AgentCredentials) { c.cached.put(id, cr) }

func (c *Credentials) forget(id string) { c.cached.delete(id) }
