package reconcile

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

// cloudTest is an in-memory Cloud: the end-to-end suite runs the same reconciler against gcpsim.
type cloudTest struct {
	mu        sync.Mutex
	jobs      []cloudrun.JobInfo
	ended     map[string]containers.Outcome // terminal executions
	deleted   []string                      // executions and jobs deleted, in order
	cancelled []string
}

func (c *cloudTest) ListManaged(context.Context) ([]cloudrun.JobInfo, error) { return c.jobs, nil }
func (c *cloudTest) Cancel(_ context.Context, e string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = append(c.cancelled, e)
	return nil
}
func (c *cloudTest) Inspect(_ context.Context, e string) (cloudrun.Status, error) {
	for _, j := range c.jobs {
		for _, x := range j.Executions {
			if x.Name == e {
				o, ended := c.ended[e]
				return cloudrun.Status{Running: !ended, Outcome: o}, nil
			}
		}
	}
	return cloudrun.Status{}, errdefs.ErrNotFound
}
func (c *cloudTest) DeleteExecution(_ context.Context, e string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, e)
	return nil
}
func (c *cloudTest) DeleteJob(_ context.Context, j, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, j)
	return nil
}

func TestReconcilerFixesOnlyWhatNoContainerUses(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	svc := containers.New(containers.Options{Store: st, Launcher: idleLauncher{}})
	defer svc.Close()
	now := time.Now()
	p := "projects/p/locations/r/jobs/"
	ours, foreign, idle := p+"rs-"+uniqueID("")[:12]+"00000000", p+uniqueID("sneaky-"), p+"rs-"+uniqueID("")[:12]+"11111111"
	ex := func(job, s string) string { return job + "/executions/" + s }
	endedRunning := ex(ours, uniqueID("a-"))  // a container's, ended while nobody watched
	stillRunning := ex(ours, uniqueID("b-"))  // a container's, running
	inFlight := ex(ours, uniqueID("c-"))      // just launched, not yet in the container record
	orphanOld := ex(ours, uniqueID("d-"))     // nobody's, old
	foreignRun := ex(foreign, uniqueID("e-")) // made behind runsock's back
	idleOld := ex(idle, uniqueID("f-"))       // nobody's, on an idle job of ours
	leaked := ex(ours, uniqueID("g-"))        // an exited container's, still running
	cloud := &cloudTest{
		jobs: []cloudrun.JobInfo{
			{Name: ours, Ours: true, LastActivity: now, Executions: []cloudrun.ExecutionInfo{
				{Name: endedRunning, CreateTime: now.Add(-time.Hour)},
				{Name: stillRunning, Running: true, CreateTime: now.Add(-time.Hour)},
				{Name: inFlight, Running: true, CreateTime: now.Add(-time.Second)},
				{Name: orphanOld, CreateTime: now.Add(-time.Hour)},
				{Name: leaked, Running: true, CreateTime: now.Add(-time.Hour)},
			}},
			{Name: foreign, LastActivity: now, Executions: []cloudrun.ExecutionInfo{{Name: foreignRun, Running: true, CreateTime: now}}},
			{Name: idle, Ours: true, LastActivity: now.Add(-2 * time.Hour), Executions: []cloudrun.ExecutionInfo{{Name: idleOld, CreateTime: now.Add(-2 * time.Hour)}}},
		},
		ended: map[string]containers.Outcome{endedRunning: {ExitCode: 4, FinishedAt: now}, orphanOld: {}, idleOld: {}},
	}
	a := runningContainer(t, st, endedRunning)
	b := runningContainer(t, st, stillRunning)
	g := runningContainer(t, st, leaked)
	if _, err := svc.ApplyOutcome(ctx, g, leaked, containers.Outcome{ExitCode: 137, FinishedAt: now.Add(-time.Hour)}, false); err != nil {
		t.Fatal(err)
	}
	// The pass lists every container of testProject, including other tests': only these are checked.
	r := New(cloud, st, svc, Config{JobIdleGrace: time.Hour, LaunchGrace: time.Minute, Now: func() time.Time { return now }})
	if _, err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	ca, err := st.GetContainer(ctx, a)
	if err != nil || ca.State.Status != container.StateExited || ca.State.ExitCode != 4 {
		t.Fatalf("container whose execution ended: %+v, %v", ca, err)
	}
	if cb, err := st.GetContainer(ctx, b); err != nil || !cb.Running() {
		t.Fatalf("running container: %+v, %v", cb, err)
	}
	if want := []string{foreignRun, leaked}; !sameSet(cloud.cancelled, want) {
		t.Fatalf("cancelled %v, want %v", cloud.cancelled, want)
	}
	if cg, err := st.GetContainer(ctx, g); err != nil || cg.State.ExitCode != 137 {
		t.Fatalf("exited container: %+v, %v", cg, err)
	}
	want := []string{orphanOld, foreignRun, foreign, idleOld, idle}
	if !sameSet(cloud.deleted, want) {
		t.Fatalf("deleted %v, want %v", cloud.deleted, want)
	}
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReconcilerReleasesNamesOfMissingContainers(t *testing.T) {
	st := openStore(t)
	fs := firestoreClient(t)
	ctx := context.Background()
	svc := containers.New(containers.Options{Store: st, Launcher: idleLauncher{}})
	defer svc.Close()
	id := runningContainer(t, st, "projects/p/locations/r/jobs/j/executions/"+uniqueID("n-"))
	c, _ := st.GetContainer(ctx, id)
	// A crash that left the name without its container.
	if _, err := fs.Collection("containers").Doc(id).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ContainerIDByName(ctx, c.Owner, c.Name); err != nil {
		t.Fatalf("the orphan name should still be reserved: %v", err)
	}
	r := New(&cloudTest{}, st, svc, Config{})
	rep, err := r.Once(ctx)
	if err != nil || rep.ReleasedNames < 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if _, err := st.ContainerIDByName(ctx, c.Owner, c.Name); !errdefs.IsNotFound(err) {
		t.Fatalf("name still reserved: %v", err)
	}
}
