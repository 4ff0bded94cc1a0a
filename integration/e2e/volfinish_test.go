package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/integration/testimages"
)

// volImage is the test image with VOLUME /data over files (testimages.VolumeFiles) as e names it.
func volImage(e engine) string {
	if e.host == stack.dockerHost {
		return stack.arURL + "/volume:latest"
	}
	return "volume:latest"
}

// volNames removes the volumes names from e's engine at the end of the test.
func volNames(t *testing.T, e engine, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, n := range names {
			e.docker(t, "volume", "rm", "-f", n)
		}
	})
}

// TestVolumeCopyUp: a new empty volume gets the image's files at its mount point, as Docker copies them — an
// image's VOLUME over files, a named volume over /etc — not with nocopy, and not into a volume that holds files.
// The same steps on runsock and on the reference Docker Engine print the same.
func TestVolumeCopyUp(t *testing.T) {
	etc, nocopy, full := uniqueName("cuetc"), uniqueName("cunocopy"), uniqueName("cufull")
	want := testimages.VolumeFiles["data/README"] + testimages.VolumeFiles["data/conf/app.conf"]
	outs := map[string][]string{}
	for _, e := range engines(t) {
		volNames(t, e, etc, nocopy, full)
		img := volImage(e)
		steps := [][]string{
			// the image's VOLUME /data: its anonymous volume holds the image's files
			{"run", "--rm", img, "sh", "-c", "cat /data/README /data/conf/app.conf"},
			// a named volume over /etc gets the image's /etc, and keeps it for the next container
			{"run", "--rm", "-v", etc + ":/etc", "alpine", "cat", "/etc/passwd"},
			{"run", "--rm", "-v", etc + ":/x", "alpine", "sh", "-c", "cat /x/group; ls /x | grep -c os-release"},
			// nocopy: -v NAME:/p:nocopy and --mount volume-nocopy leave the volume empty
			{"run", "--rm", "-v", nocopy + ":/data:nocopy", img, "ls", "-A", "/data"},
			{"run", "--rm", "--mount", "type=volume,dst=/data,volume-nocopy", img, "ls", "-A", "/data"},
			// a volume that holds a file is not filled from the image
			{"run", "--rm", "-v", full + ":/v", "alpine", "sh", "-c", "echo mine > /v/README"},
			{"run", "--rm", "-v", full + ":/data", img, "sh", "-c", "ls -A /data; cat /data/README"},
		}
		for _, s := range steps {
			outs[e.name] = append(outs[e.name], e.must(t, s...))
		}
	}
	rs, ref := outs["runsock"], outs["docker"]
	if rs[0] != want {
		t.Errorf("the image's VOLUME: runsock printed %q, want %q", rs[0], want)
	}
	if !strings.HasPrefix(rs[1], "root:") || rs[3] != "" || rs[4] != "" || rs[6] != "README\nmine\n" {
		t.Errorf("runsock printed %q", rs)
	}
	for i := range rs {
		if rs[i] != ref[i] {
			t.Errorf("step %d: runsock printed %q, Docker %q", i, rs[i], ref[i])
		}
	}
}

// TestCopyVolumeOfStoppedContainer: docker cp out of a volume of an exited container gives what its process wrote
// there; cp into it reaches the volume at once (the next container reads it, the exited one is not started); cp
// into a created container's volume, past the 32 MiB of a staged archive and into a directory the image lacks, is
// there when it starts; a read-only volume refuses a cp as Docker does. Compared with the reference Docker Engine.
func TestCopyVolumeOfStoppedContainer(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "in.txt"), []byte("copied in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "tree", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "tree", "deep", "f"), []byte("deep file\n"), 0o644)
	big := bytes.Repeat([]byte("0123456789abcdef"), (33<<20)/16) // 33 MiB: over a staged archive's 32 MiB
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	vol, vol2 := uniqueName("cpvx"), uniqueName("cpvc")
	outs := map[string][]string{}
	for _, e := range engines(t) {
		volNames(t, e, vol, vol2)
		exited, created := uniqueName("cpexited"), uniqueName("cpcreated")
		t.Cleanup(func() { e.docker(t, "rm", "-f", exited, created) })
		out := func(s string) { outs[e.name] = append(outs[e.name], s) }

		e.must(t, "run", "--name", exited, "-v", vol+":/data", "alpine", "sh", "-c",
			"mkdir -p /data/out && echo result > /data/out/r.txt && echo top > /data/top")
		dst := t.TempDir()
		e.must(t, "cp", exited+":/data/out", dst)
		e.must(t, "cp", exited+":/data/top", filepath.Join(dst, "top"))
		for _, f := range []string{"out/r.txt", "top"} {
			b, err := os.ReadFile(filepath.Join(dst, f))
			out(string(b))
			if err != nil {
				t.Errorf("%s: %s not copied out: %v", e.name, f, err)
			}
		}
		r := e.docker(t, "cp", exited+":/data/nope", dst)
		out(strconv.FormatBool(strings.Contains(r.stderr, "Could not find the file /data/nope") && r.code != 0))
		e.must(t, "cp", filepath.Join(src, "in.txt"), exited+":/data/out/")
		e.must(t, "cp", filepath.Join(src, "tree"), exited+":/data/tree")
		out(e.must(t, "run", "--rm", "-v", vol+":/v", "alpine", "sh", "-c", "cat /v/out/in.txt /v/tree/deep/f; ls /v /v/out"))

		e.must(t, "create", "--name", created, "-v", vol2+":/data", "-v", vol+":/ro:ro", "alpine", "sh", "-c", "cat /data/sub/deep/f; wc -c < /data/big")
		r = e.docker(t, "cp", filepath.Join(src, "in.txt"), created+":/ro/")
		out(strconv.FormatBool(strings.Contains(r.stderr, "mounted volume is marked read-only") && r.code != 0))
		e.must(t, "cp", filepath.Join(src, "tree"), created+":/data/sub")
		e.must(t, "cp", filepath.Join(src, "big"), created+":/data/")
		dst2 := t.TempDir()
		e.must(t, "cp", created+":/data/sub/deep/f", dst2)
		b, _ := os.ReadFile(filepath.Join(dst2, "f"))
		out(string(b))
		out(e.must(t, "start", "-a", created))
	}
	rs, ref := outs["runsock"], outs["docker"]
	if len(rs) != len(ref) || rs[0] != "result\n" || rs[1] != "top\n" || rs[2] != "true" || rs[4] != "true" {
		t.Fatalf("runsock: %q", rs)
	}
	for i := range rs {
		if rs[i] != ref[i] {
			t.Errorf("step %d: runsock %q, Docker %q", i, rs[i], ref[i])
		}
	}
}

// TestVolumeEvents: a named volume's events as the reference Docker Engine emits them for the same steps: create
// at each create call and each container create naming it (not for --volumes-from), mount (with its destination
// and mode) at a start, unmount at the exit, destroy.
func TestVolumeEvents(t *testing.T) {
	vol := uniqueName("evvol")
	format := `{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "driver"}} {{index .Actor.Attributes "destination"}} {{index .Actor.Attributes "read/write"}}`
	var outs []string
	for _, e := range engines(t) {
		volNames(t, e, vol)
		src := uniqueName("evsrc")
		t.Cleanup(func() { e.docker(t, "rm", "-f", src) })
		since := time.Now().Add(-time.Second).Unix()
		e.must(t, "volume", "create", vol)
		e.must(t, "volume", "create", vol)
		e.must(t, "create", "--name", src, "-v", vol+":/data:ro", "alpine", "true")
		e.must(t, "run", "--rm", "--volumes-from", src, "alpine", "true")
		e.must(t, "rm", src)
		e.must(t, "volume", "rm", vol)
		until := time.Now().Add(time.Second).Unix()
		outs = append(outs, e.must(t, "events", "--since", strconv.FormatInt(since, 10), "--until", strconv.FormatInt(until, 10),
			"--filter", "type=volume", "--filter", "volume="+vol, "--format", format))
	}
	create := "volume create " + vol + " local  \n"
	want := create + create + create + "volume mount " + vol + " local /data false\nvolume unmount " + vol + " local  \nvolume destroy " + vol + " local  \n"
	if outs[0] != want {
		t.Errorf("runsock's volume events:\n%s\nwant\n%s", outs[0], want)
	}
	if outs[0] != outs[1] {
		t.Errorf("runsock's volume events:\n%s\nDocker's:\n%s", outs[0], outs[1])
	}
}

// TestSystemDfVolumes: docker system df -v lists a volume with its links and size as Docker does.
func TestSystemDfVolumes(t *testing.T) {
	vol := uniqueName("dfvol")
	var outs []string
	for _, e := range engines(t) {
		volNames(t, e, vol)
		c := uniqueName("dfc")
		t.Cleanup(func() { e.docker(t, "rm", "-f", c) })
		e.must(t, "run", "--name", c, "-v", vol+":/data", "alpine", "sh", "-c", "printf 0123456789 > /data/ten")
		var line string
		for _, l := range strings.Split(e.must(t, "system", "df", "-v"), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == vol {
				line = strings.Join(f, " ")
			}
		}
		outs = append(outs, line)
	}
	if outs[0] != vol+" 1 10B" {
		t.Errorf("runsock's system df -v line: %q", outs[0])
	}
	if outs[0] != outs[1] {
		t.Errorf("system df -v: runsock %q, Docker %q", outs[0], outs[1])
	}
}
