package e2e

import (
	"context"
	"encoding/binary"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// logEngine is one Docker Engine the same steps run on: runsock (through localproxy) or the reference.
type logEngine struct {
	name, host, image string
}

func logEngines(t *testing.T) []logEngine {
	return []logEngine{{"runsock", stack.dockerHost, stack.arURL + "/alpine:latest"}, {"docker", referenceHost(t), "alpine:latest"}}
}

func (e logEngine) must(t *testing.T, args ...string) string {
	t.Helper()
	r := dockerAs(t, e.host, "", args...)
	if r.code != 0 {
		t.Fatalf("%s: docker %s: %s", e.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

var logTimestamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z `)

// Logs are lines, as Docker's json-file driver keeps them: the same steps on runsock and on the reference engine
// give the same `docker logs`, a time on every entry with --timestamps (two on a 20 KiB line, cut at 16 KiB as
// Docker cuts it, both the same), a line written in pieces joined under the time its newline came, the unfinished
// end without a newline, and --tail, --since, --until counting and filtering entries.
func TestLogsAreLinesAsDocker(t *testing.T) {
	script := `printf 'l1\nl2\n'; head -c 20480 /dev/zero | tr '\0' x; echo; sleep 1; printf 'part'; sleep 1; printf 'rest\nshort\nz'`
	type view struct {
		plain, stamped, tail1, tail3, since, until string
		stamps                                     []string
	}
	views := map[string]view{}
	for _, e := range logEngines(t) {
		name := uniqueName("loglines")
		t.Cleanup(func() { dockerAs(t, e.host, "", "rm", "-f", name) })
		e.must(t, "run", "--name", name, e.image, "sh", "-c", script)
		v := view{plain: e.must(t, "logs", name), stamped: e.must(t, "logs", "--timestamps", name),
			tail1: e.must(t, "logs", "--tail", "1", name), tail3: e.must(t, "logs", "--tail", "3", name)}
		for _, m := range logTimestamp.FindAllString(v.stamped, -1) {
			v.stamps = append(v.stamps, strings.TrimSpace(m))
		}
		if len(v.stamps) != 7 {
			t.Fatalf("%s: %d timestamps in\n%.300q\nwant 7: l1, l2, the long line's two pieces, partrest, short, z", e.name, len(v.stamps), v.stamped)
		}
		// The entry "partrest" is the 5th: --since from it keeps it and what follows, --until to it keeps it and
		// what came before (both bounds include an entry at their time, as Docker's do).
		v.since = e.must(t, "logs", "--since", v.stamps[4], name)
		v.until = e.must(t, "logs", "--until", v.stamps[4], name)
		views[e.name] = v

		if got := logTimestamp.ReplaceAllString(v.stamped, ""); got != v.plain {
			t.Errorf("%s: --timestamps without the times differs from the logs", e.name)
		}
		if v.stamps[2] != v.stamps[3] {
			t.Errorf("%s: the pieces of the 20 KiB line carry %s and %s; want one time", e.name, v.stamps[2], v.stamps[3])
		}
		t0, _ := time.Parse(time.RFC3339Nano, v.stamps[1])
		t1, _ := time.Parse(time.RFC3339Nano, v.stamps[4])
		if d := t1.Sub(t0); d < 1500*time.Millisecond {
			t.Errorf("%s: partrest stamped %v after l2; want the time its newline came (2 s later)", e.name, d)
		}
	}
	r, d := views["runsock"], views["docker"]
	for _, c := range []struct{ what, runsock, docker string }{
		{"logs", r.plain, d.plain}, {"logs --tail 1", r.tail1, d.tail1}, {"logs --tail 3", r.tail3, d.tail3},
		{"logs --since <partrest>", r.since, d.since}, {"logs --until <partrest>", r.until, d.until},
	} {
		if c.runsock != c.docker {
			t.Errorf("%s differs:\nrunsock %s\ndocker  %s", c.what, abbreviated(c.runsock), abbreviated(c.docker))
		}
	}
	if want := "l1\nl2\n" + strings.Repeat("x", 20480) + "\npartrest\nshort\nz"; d.plain != want {
		t.Errorf("the reference engine's logs %.100q; the test expects %.100q", d.plain, want)
	}
}

// A client library following the logs gets one frame per line, as from Docker: two lines in one write are two
// frames, and a line written a second later is its own.
func TestFollowedLogsAreFramesPerLineAsDocker(t *testing.T) {
	for _, e := range logEngines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			name := uniqueName("logframes")
			t.Cleanup(func() { dockerAs(t, e.host, "", "rm", "-f", name) })
			e.must(t, "run", "-d", "--name", name, e.image, "sh", "-c", `printf 'one\ntwo\n'; sleep 1; echo three; sleep 1`)
			c, err := client.New(client.WithHost(e.host), client.WithAPIVersionNegotiation())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc, err := c.ContainerLogs(ctx, name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var frames []string
			hdr := make([]byte, 8)
			for {
				if _, err := io.ReadFull(rc, hdr); err != nil {
					if err != io.EOF {
						t.Fatalf("after frames %q: %v", frames, err)
					}
					break
				}
				b := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
				if _, err := io.ReadFull(rc, b); err != nil {
					t.Fatal(err)
				}
				frames = append(frames, string(b))
			}
			if strings.Join(frames, "|") != "one\n|two\n|three\n" {
				t.Fatalf("frames %q; want one per line", frames)
			}
		})
	}
}

// abbreviated quotes s with its runs of x (the long line) shortened to their length.
func abbreviated(s string) string {
	return regexp.MustCompile(`x{20,}`).ReplaceAllStringFunc(strconv.Quote(s), func(run string) string {
		return "x*" + strconv.Itoa(len(run))
	})
}
