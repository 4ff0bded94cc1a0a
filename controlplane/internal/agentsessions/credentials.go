package agentsessions

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// ContainerRecords reads and updates container records; *store.Store implements it.
type ContainerRecords interface {
	GetContainer(ctx context.Context, id string) (*containers.Container, error)
	UpdateContainer(ctx context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error)
}

// Credentials are the agents' credentials: each container's current run as its record says (the execution, the
// bootstrap's hash until it is spent, then the agent's key's hash), cached. The cache is filled only from committed
// records — never at Prepare, when the start may still lose to another — and a run's entry is dropped when it ends.
// It exists before the Hub, which checks every agent stream against it, and before the Agent that issues them.
type Credentials struct {
	records ContainerRecords
	cached  *cache[agentlink.AgentCredentials]
}

var _ agentlink.CredentialStore = (*Credentials)(nil)

// NewCredentials returns credentials read from records and cached.
func NewCredentials(records ContainerRecords) *Credentials {
	return &Credentials{records: records, cached: newCache[agentlink.AgentCredentials]()}
}

// AgentCredentials implements agentlink.CredentialStore, with a cache: every agent stream authenticates, so this is
// on the path of every session. fresh reads the record (and refreshes the cache).
func (c *Credentials) AgentCredentials(ctx context.Context, id string, fresh bool) (agentlink.AgentCredentials, error) {
	if !fresh {
		if cr, ok := c.cached.get(id); ok {
			return cr, nil
		}
	}
	rec, err := c.records.GetContainer(ctx, id)
	if err != nil {
		return agentlink.AgentCredentials{}, fmt.Errorf("agent credentials of %s: %w", id, err)
	}
	cr, err := runCredentials(rec)
	if err != nil {
		c.cached.delete(id)
		return agentlink.AgentCredentials{}, err
	}
	c.cached.put(id, cr)
	return cr, nil
}

// runCredentials are the credentials of rec's current run — or of its last run, ended, when that run's agent had
// bound a key (it may still have output and its exit to deliver). A container without either has none.
func runCredentials(rec *containers.Container) (agentlink.AgentCredentials, error) {
	cr := agentlink.AgentCredentials{Run: rec.Agent.Run, BootstrapHash: rec.Agent.BootstrapHash, KeyHash: rec.Agent.KeyHash,
		ServiceAccount: rec.Agent.ServiceAccount}
	switch {
	case len(rec.Agent.BootstrapHash) == 0 && len(rec.Agent.KeyHash) == 0:
		return agentlink.AgentCredentials{}, errkind.New(errdefs.ErrNotFound, "container %s runs without the agent", rec.ID)
	case rec.Running() && rec.State.Execution != "":
		cr.Execution = rec.State.Execution
	case !rec.Running() && len(rec.Executions) > 0 && len(rec.Agent.KeyHash) != 0:
		cr.Execution, cr.Ended, cr.BootstrapHash = rec.Executions[len(rec.Executions)-1], true, nil
	default:
		return agentlink.AgentCredentials{}, errkind.New(errdefs.ErrNotFound, "container %s runs no execution", rec.ID)
	}
	return cr, nil
}

// ClaimBootstrap implements agentlink.CredentialStore: in one transaction, the run in execution binds keyHash and
// spends its bootstrap, if it is still current, still has that bootstrap and has no key yet.
func (c *Credentials) ClaimBootstrap(ctx context.Context, id, execution string, bootstrapHash, keyHash []byte) error {
	rec, err := c.records.UpdateContainer(ctx, id, func(rec *containers.Container) error {
		switch {
		case !rec.Running() || !agentlink.SameExecution(rec.State.Execution, execution):
			return errkind.New(errdefs.ErrFailedPrecondition, "container %s does not run execution %s", id, execution)
		case len(rec.Agent.KeyHash) != 0 || !equalHash(rec.Agent.BootstrapHash, bootstrapHash):
			return errkind.New(errdefs.ErrPermissionDenied, "container %s: the bootstrap is spent or wrong", id)
		}
		rec.Agent.KeyHash, rec.Agent.BootstrapHash = keyHash, nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("claim the bootstrap of %s: %w", id, err)
	}
	if cr, err := runCredentials(rec); err == nil {
		c.cached.put(id, cr)
	}
	return nil
}

// equalHash compares two stored hashes (not secrets: no need for constant time); empty matches nothing.
func equalHash(a, b []byte) bool { return len(a) != 0 && string(a) == string(b) }

// ended drops the cached credentials of id's run in execution, if they are cached: they prove nothing any more.
func (c *Credentials) ended(id, execution string) {
	c.cached.mu.Lock()
	defer c.cached.mu.Unlock()
	if cr, ok := c.cached.m[id]; ok && agentlink.SameExecution(cr.Execution, execution) {
		delete(c.cached.m, id)
	}
}

func (c *Credentials) forget(id string) { c.cached.delete(id) }
