package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The quotas the local cloud enforces (integration/gcpsim README "Quotas") with their defaults, and runsock
// living within them.

// TestHundredConcurrentRunsWithinTheRunJobQuota: 100 `docker run --rm` at once, under the default quota of 60 RunJob
// requests per minute: they all succeed — the control plane queues the launches beyond the quota (slower, not
// failed).
func TestHundredConcurrentRunsWithinTheRunJobQuota(t *testing.T) {
	const n = 100
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]result, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			results[i] = dockerWithin(t, 6*time.Minute, "run", "--rm", "alpine", "true")
			took[i] = time.Since(s)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	failed := 0
	for i, r := range results {
		if r.code != 0 {
			failed++
			if failed <= 5 {
				t.Errorf("run %d: %s", i, r)
			}
		}
	}
	var longest time.Duration
	for _, d := range took {
		longest = max(longest, d)
	}
	t.Logf("figures: %d concurrent `docker run --rm alpine true` under 60 RunJob/min: all done in %v (slowest run %v), %d failed",
		n, elapsed.Round(time.Second), longest.Round(time.Second), failed)
}

// TestSustainedOutputKeepsFirestoreWritesPerDocumentNearOnePerSecond: a container printing a line every 5 ms for
// about 10 s. Google's guidance is about one sustained write per second per document; the control plane's counter
// (read as the dev admin) must show no document of the container's written faster than that.
func TestSustainedOutputKeepsFirestoreWritesPerDocumentNearOnePerSecond(t *testing.T) {
	name := uniqueName("chatty")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c",
		`i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); usleep 5000; done`)
	id := strings.TrimSpace(mustDocker(t, "inspect", "-f", "{{.Id}}", name))
	start := time.Now()
	if code, _ := waitExit(t, name); code != 0 {
		t.Fatalf("exit %d", code)
	}
	ran := time.Since(start)
	logs := mustDocker(t, "logs", name)
	if got := strings.Count(logs, "\n"); got != 2000 {
		t.Errorf("docker logs: %d lines, want 2000", got)
	}
	var worst docWrite
	var batches int
	for _, prefix := range []string{"livelogs/" + id, "containers/" + id} {
		docs := documentWrites(t, prefix)
		if len(docs) == 0 {
			t.Errorf("no writes counted under %s", prefix)
		}
		for _, d := range docs {
			if strings.Contains(d.Path, "/batches/") {
				batches++
			}
			if d.Peak > worst.Peak {
				worst = d
			}
		}
	}
	t.Logf("figures: 2000 lines in %v: %d live-log batch documents; busiest document %s: %d writes, peak %.1f writes/s over 10 s",
		ran.Round(100*time.Millisecond), batches, worst.Path, worst.Writes, worst.Peak)
	if worst.Peak > 1.2 {
		t.Errorf("document %s written at %.1f/s sustained (%d writes), want ≤ ≈1/s", worst.Path, worst.Peak, worst.Writes)
	}
}

// TestQuotaOutlastingRetriesNamesIt: another client of the project spends the RunJob quota (here: this test, with
// RunJob requests of its own at more than the refill rate) for longer than the control plane retries; `docker run`
// then fails with an error naming the quota Cloud Run named.
func TestQuotaOutlastingRetriesNamesIt(t *testing.T) {
	jobs, _ := runClients(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	missing := fmt.Sprintf("projects/%s/locations/%s/jobs/quota-drain", os.Getenv("RUNSOCK_PROJECT"), os.Getenv("RUNSOCK_REGION"))
	var drained, refused atomic.Int64
	// Two clients asking every 5 ms take each token within milliseconds of its refill (one a second), so the
	// control plane's retries find the quota spent.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := jobs.RunJob(ctx, &runpb.RunJobRequest{Name: missing})
				switch status.Code(err) {
				case codes.NotFound: // a token spent
					drained.Add(1)
				case codes.ResourceExhausted:
					refused.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for deadline := time.Now().Add(2 * time.Minute); refused.Load() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the RunJob quota never ran out")
		}
	}
	start := time.Now()
	r := dockerWithin(t, 4*time.Minute, "run", "--rm", "alpine", "true")
	took := time.Since(start)
	stop()
	wg.Wait()
	t.Logf("figures: drained %d RunJob tokens; docker run gave up after %v", drained.Load(), took.Round(time.Second))
	if r.code == 0 {
		t.Fatalf("docker run succeeded while the quota was spent: %s", r)
	}
	for _, want := range []string{"JobRunRequestsPerMinutePerProjectRegion", "'Job run requests per minute per region'", "retrying for"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("docker run's error does not name the quota (%q):\n%s", want, r.stderr)
		}
	}
}

// dockerWithin is docker with a longer limit than the usual two minutes.
func dockerWithin(t testing.TB, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := dockerCmd(ctx, t, stack.dockerHost, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// docWrite is one document of the control plane's per-document write counter.
type docWrite struct {
	Path   string  `json:"path"`
	Writes int64   `json:"writes"`
	Peak   float64 `json:"peak"`
}

// documentWrites reads GET /runsock/v1/debug/firestore/documents as the dev stack's admin.
func documentWrites(t *testing.T, prefix string) []docWrite {
	t.Helper()
	admin := os.Getenv("RUNSOCK_DEV_ADMIN")
	if admin == "" {
		t.Skip("RUNSOCK_DEV_ADMIN not set (.dev/env)")
	}
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(stack.devCA); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(u string, h http.Header) []byte {
		req, _ := http.NewRequest("GET", u, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		return b
	}
	tok := get(stack.issuer+"/gcpsim/v1/idtoken?email="+url.QueryEscape(admin)+"&audience="+url.QueryEscape(stack.controlPlane), nil)
	body := get(stack.controlPlane+"/runsock/v1/debug/firestore/documents?limit=1000&prefix="+url.QueryEscape(prefix),
		http.Header{"X-Serverless-Authorization": {"Bearer " + strings.TrimSpace(string(tok))}})
	var out struct {
		Documents []docWrite `json:"documents"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return out.Documents
}
