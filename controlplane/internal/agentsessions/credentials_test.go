package agentsessions

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/linkproto"
)

// records is an in-memory ContainerRecords: the Firestore store plays this part in the product.
type records struct {
	mu    sync.Mutex
	m     map[string]containers.Container
	reads int
}

func (r *records) GetContainer(_ context.Context, id string) (*containers.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	c, ok := r.m[id]
	if !ok {
		return nil, errkind.New(errdefs.ErrNotFound, "No such container: %s", id)
	}
	return &c, nil
}

func (r *records) UpdateContainer(_ context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[id]
	if !ok {
		return nil, errkind.New(errdefs.ErrNotFound, "No such container: %s", id)
	}
	if err := fn(&c); err != nil {
		return nil, err
	}
	r.m[id] = c
	return &c, nil
}

// start records a committed start of id in execution whose bootstrap is returned.
func (r *records) start(t *testing.T, id, execution string) string {
	t.Helper()
	bootstrap, hash, err := agentlink.IssueSecret()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.m[id]
	c.ID = id
	c.State = containers.State{Status: container.StateRunning, Execution: execution}
	c.Agent = containers.AgentRecord{BootstrapHash: hash, ServiceAccount: "jobs@p", Run: "run-" + execution}
	c.Executions = append(c.Executions, execution)
	r.m[id] = c
	return bootstrap
}

func (r *records) exit(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.m[id]
	c.State = containers.State{Status: container.StateExited}
	r.m[id] = c
}

const (
	execA = "projects/p/locations/l/jobs/j/executions/j-aaaaa"
	execB = "projects/p/locations/l/jobs/j/executions/j-bbbbb"
)

func TestBootstrapIsSpentByTheFirstClaim(t *testing.T) {
	ctx := context.Background()
	recs := &records{m: map[string]containers.Container{}}
	creds := NewCredentials(recs)
	bootstrap := recs.start(t, "c", execA)
	key, other := agentlink.SecretHash("agent's key"), agentlink.SecretHash("viewer's key")

	if err := creds.ClaimBootstrap(ctx, "c", "j-aaaaa", agentlink.SecretHash("wrong"), key); err == nil {
		t.Fatal("a wrong bootstrap was accepted")
	}
	if err := creds.ClaimBootstrap(ctx, "c", execB, agentlink.SecretHash(bootstrap), key); err == nil {
		t.Fatal("the bootstrap was accepted for another execution")
	}
	if err := creds.ClaimBootstrap(ctx, "c", "j-aaaaa", agentlink.SecretHash(bootstrap), key); err != nil {
		t.Fatalf("the agent's claim: %v", err)
	}
	if err := creds.ClaimBootstrap(ctx, "c", "j-aaaaa", agentlink.SecretHash(bootstrap), other); err == nil {
		t.Fatal("the bootstrap was accepted twice")
	}
	cr, err := creds.AgentCredentials(ctx, "c", false)
	if err != nil || string(cr.KeyHash) != string(key) || cr.BootstrapHash != nil || cr.Execution != execA {
		t.Fatalf("credentials after the claim: %+v, %v", cr, err)
	}
	if rec, _ := recs.GetContainer(ctx, "c"); string(rec.Agent.KeyHash) != string(key) || rec.Agent.BootstrapHash != nil {
		t.Fatalf("the record keeps %+v", rec.Agent)
	}
}

// A start that loses to a concurrent one issued a bootstrap that was never committed: nothing knows it, so its
// agent (an orphan) is refused and the winner's is not locked out.
func TestPrepareCachesNothing(t *testing.T) {
	ctx := context.Background()
	recs := &records{m: map[string]containers.Container{"c": {ID: "c"}}}
	creds := NewCredentials(recs)
	a := NewAgent(AgentOptions{Wrap: func(context.Context, string) (string, error) { return "wrapped", nil },
		Link: nopLink{}, Credentials: creds})
	defer a.Close()
	c := &containers.Container{ID: "c"}
	loser := a.Prepare(ctx, c, &containers.LaunchSpec{})
	winner := recs.start(t, "c", execA) // the winner's start commits; the loser's record is dropped
	if _, err := creds.AgentCredentials(ctx, "c", false); err != nil {
		t.Fatal(err)
	}
	if err := creds.ClaimBootstrap(ctx, "c", execB, loser.BootstrapHash, agentlink.SecretHash("orphan")); err == nil {
		t.Fatal("the orphan's bootstrap was accepted")
	}
	if err := creds.ClaimBootstrap(ctx, "c", "j-aaaaa", agentlink.SecretHash(winner), agentlink.SecretHash("k")); err != nil {
		t.Fatalf("the winner's claim: %v", err)
	}
}

// When a run ends its cached credentials go (the record then says the run ended); a new start's credentials come
// from its committed record, and the previous run's key proves nothing.
func TestEndedRunsCredentialsAreDropped(t *testing.T) {
	ctx := context.Background()
	recs := &records{m: map[string]containers.Container{}}
	creds := NewCredentials(recs)
	b := recs.start(t, "c", execA)
	if err := creds.ClaimBootstrap(ctx, "c", "j-aaaaa", agentlink.SecretHash(b), agentlink.SecretHash("key A")); err != nil {
		t.Fatal(err)
	}
	recs.exit("c")
	creds.ended("c", "j-aaaaa")
	// The ended run's agent may still finish delivering with its key (its credentials say the run ended).
	if cr, err := creds.AgentCredentials(ctx, "c", false); err != nil || !cr.Ended || cr.Execution != execA {
		t.Fatalf("credentials of the ended run: %+v, %v", cr, err)
	}
	recs.start(t, "c", execB)
	// The new run's agent links on a control stream first, which reads the record.
	cr, err := creds.AgentCredentials(ctx, "c", true)
	if err != nil || cr.Execution != execB || cr.KeyHash != nil || cr.Ended {
		t.Fatalf("credentials of the new run: %+v, %v", cr, err)
	}
	// Another run's end leaves the current run's cache alone.
	creds.ended("c", "j-aaaaa")
	reads := recs.reads
	if _, err := creds.AgentCredentials(ctx, "c", false); err != nil || recs.reads != reads {
		t.Fatalf("cached read after another run's end: err %v, %d reads", err, recs.reads-reads)
	}
	// A fresh read always reads the record.
	if _, err := creds.AgentCredentials(ctx, "c", true); err != nil || recs.reads != reads+1 {
		t.Fatalf("fresh read: err %v, %d reads", err, recs.reads-reads)
	}
}

// nopLink is a Link that is never called in these tests beyond bookkeeping.
type nopLink struct{ Link }

func (nopLink) SetNotConnectedReason(string, string) {}
func (nopLink) EndRun(string, string)                {}
func (nopLink) Forget(string)                        {}

// TestPrepareHandsTheWorkingDirectoryToTheAgent: the agent gets -w (it creates a missing one, as Docker does) and the
// Cloud Run container is given none, so a directory the image lacks cannot fail the platform's start.
func TestPrepareHandsTheWorkingDirectoryToTheAgent(t *testing.T) {
	ctx := context.Background()
	recs := &records{m: map[string]containers.Container{"c": {ID: "c"}}}
	a := NewAgent(AgentOptions{Wrap: func(context.Context, string) (string, error) { return "wrapped", nil },
		Link: nopLink{}, Credentials: NewCredentials(recs)})
	defer a.Close()
	c := &containers.Container{ID: "c"}
	c.Config.WorkingDir = "/missing/dir"
	spec := containers.LaunchSpec{WorkingDir: c.Config.WorkingDir}
	a.Prepare(ctx, c, &spec)
	if spec.WorkingDir != "" {
		t.Errorf("the Cloud Run container's working directory is %q, want none", spec.WorkingDir)
	}
	if !slices.Contains(spec.Env, linkproto.EnvWorkDir+"=/missing/dir") {
		t.Errorf("the agent's environment %v lacks %s=/missing/dir", spec.Env, linkproto.EnvWorkDir)
	}
}
