package agentlink

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
)

// peakRSS is the process's high-water RSS in KiB (VmHWM).
func peakRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// patterned is size bytes of a repeating pattern, without holding them.
type patterned struct{ left, off int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	n = min(n, p.left)
	for i := range b[:n] {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += n
	p.left -= n
	return int(n), nil
}

func TestArchivePutGet(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	p := e.startAgent(id, e.container(id, ""), nil, "sleep", "120")
	e.waitConnected(id)
	ctx := context.Background()
	dest := t.TempDir()

	// A directory.
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		_ = tw.WriteHeader(&tar.Header{Name: "dir/", Mode: 0o755, Typeflag: tar.TypeDir})
		_ = tw.WriteHeader(&tar.Header{Name: "dir/a.txt", Mode: 0o640, Size: 5})
		_, _ = tw.Write([]byte("alpha"))
		pw.CloseWithError(tw.Close())
	}()
	if err := e.hub.ArchivePut(ctx, id, dest, pr, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	st, rc, err := e.hub.ArchiveGet(ctx, id, filepath.Join(dest, "dir"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "dir" || !st.Mode.IsDir() {
		t.Fatalf("stat %+v", st)
	}
	names := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names[h.Name] = string(b)
	}
	rc.Close()
	if names["dir/a.txt"] != "alpha" || len(names) != 2 {
		t.Fatalf("got entries %v", names)
	}

	// Errors keep Docker's kinds.
	if _, err := e.hub.ArchiveStat(ctx, id, filepath.Join(dest, "missing")); !errdefs.IsNotFound(err) {
		t.Fatalf("stat of a missing path: %v", err)
	}
	if err := e.hub.ArchivePut(ctx, id, filepath.Join(dest, "dir", "a.txt"), strings.NewReader(""), PutOptions{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("put into a file: %v", err)
	}

	// 100 MiB each way, memory flat.
	const size = 100 << 20
	before := peakRSS(t, p.cmd.Process.Pid)
	pr, pw = io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		_ = tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: size})
		_, _ = io.Copy(tw, &patterned{left: size})
		pw.CloseWithError(tw.Close())
	}()
	start := time.Now()
	if err := e.hub.ArchivePut(ctx, id, dest, pr, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	put := time.Since(start)
	start = time.Now()
	_, rc, err = e.hub.ArchiveGet(ctx, id, filepath.Join(dest, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tr = tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, tr)
	rc.Close()
	if err != nil || n != size || h.Size != size {
		t.Fatalf("got %d bytes (header %d), err %v", n, h.Size, err)
	}
	get := time.Since(start)
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("100 MiB put %v, get %v; agent peak RSS %d KiB before, %d KiB after", put.Round(time.Millisecond), get.Round(time.Millisecond), before, peak)
	fmt.Printf("agent peak RSS across 100 MiB cp in+out: %.1f MiB (before: %.1f MiB)\n", float64(peak)/1024, float64(before)/1024)
	if peak > 64<<10 {
		t.Fatalf("agent peak RSS %d KiB: the archive is not streamed", peak)
	}
}

func TestLinkCutLosesAndDuplicatesNothing(t *testing.T) {
	e := newEnv(t, false, nil) // h2c, as behind Cloud Run
	id := uniqueID(t)
	const lines = 300
	p := e.startAgent(id, e.container(id, ""), nil, "sh", "-c",
		fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo line-$i; i=$((i+1)); sleep 0.01; done; sleep 3`, lines))
	e.waitConnected(id)
	e.waitOutput(id, "line-40\n")
	addr := e.stop() // the control plane dies mid-stream
	time.Sleep(1500 * time.Millisecond)
	e.start(false, addr) // a new instance, a new Hub, the same Firestore
	e.waitConnected(id)
	var out strings.Builder
	code, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"echo", "exec-after-redial"}}, Streams{Stdout: &out}, nil)
	if err != nil || code != 0 || out.String() != "exec-after-redial\n" {
		t.Fatalf("exec after redial: %q %d %v", out.String(), code, err)
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	chunks, err := e.logs.Read(context.Background(), id, livelogs.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range chunks {
		b.Write(c.Data)
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != lines {
		t.Fatalf("%d lines persisted, want %d", len(got), lines)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line-%d", i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
	st, _ := e.logs.State(context.Background(), id)
	if !st.Complete || st.ExitCode != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestForeignCredentialsAreRefused(t *testing.T) {
	// A metadata server handing out identity tokens, as gcpsim's (and Cloud Run's) does.
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "no flavor", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, r.URL.Query().Get("audience")+"|")
	}))
	defer md.Close()
	mdHost := strings.TrimPrefix(md.URL, "http://")
	// The metadata server's "token" is "<audience>|"; the verifier knows only the control plane's audience, for alice.
	tokens := tokenTable{}
	e := newEnv(t, true, tokens)
	tokens[e.url+"|"] = "alice@p.iam.gserviceaccount.com"

	tests := []struct {
		name      string
		sa        string // the container's recorded service account
		secret    func(id string) string
		connected bool
	}{
		{"own secret and identity", "alice@p.iam.gserviceaccount.com", func(id string) string { return e.container(id, "alice@p.iam.gserviceaccount.com") }, true},
		{"another container's secret", "alice@p.iam.gserviceaccount.com", func(id string) string {
			e.container(id, "alice@p.iam.gserviceaccount.com")
			return e.container(id+"-other", "alice@p.iam.gserviceaccount.com")
		}, false},
		{"another service account's identity", "bob@p.iam.gserviceaccount.com", func(id string) string { return e.container(id, "bob@p.iam.gserviceaccount.com") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uniqueID(t)
			e.startAgent(id, tt.secret(id), []string{"GCE_METADATA_HOST=" + mdHost}, "sleep", "30")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := e.hub.WaitConnected(ctx, id)
			if tt.connected != (err == nil) {
				t.Fatalf("connected=%v, want %v (err %v)", err == nil, tt.connected, err)
			}
			if !tt.connected {
				_, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"true"}}, Streams{}, nil)
				if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "has no runsock agent connected") {
					t.Fatalf("exec on a refused agent: %v", err)
				}
			}
		})
	}
}
