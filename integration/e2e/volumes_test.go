package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// referenceDocker runs the docker CLI against the machine's real Docker Engine (gcpsim's, GCPSIM_DOCKER_HOST: never
// DOCKER_HOST, which is runsock), the reference for what Docker does. It skips when the variable is not set.
func referenceDocker(t *testing.T, args ...string) result {
	t.Helper()
	host := os.Getenv("GCPSIM_DOCKER_HOST")
	if host == "" {
		t.Skip("GCPSIM_DOCKER_HOST not set: no reference Docker Engine to compare with")
	}
	return dockerAs(t, host, "", args...)
}

func volumeNames(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range strings.Fields(mustDocker(t, "volume", "ls", "-q")) {
		out[n] = true
	}
	return out
}

// TestVolumeOutlivesContainers: what one container writes to a named volume the next one reads; the volume is
// listed, inspected as Docker shows it, refused removal while a container uses it, and gone after rm.
func TestVolumeOutlivesContainers(t *testing.T) {
	vol := uniqueName("vol")
	t.Cleanup(func() { docker(t, "volume", "rm", "-f", vol) })
	if got := strings.TrimSpace(mustDocker(t, "volume", "create", "--label", "team=e2e", vol)); got != vol {
		t.Fatalf("volume create printed %q, want %q", got, vol)
	}
	// Creating it again returns the same volume, as Docker does.
	if got := strings.TrimSpace(mustDocker(t, "volume", "create", vol)); got != vol {
		t.Fatalf("second volume create printed %q", got)
	}
	var inspected []struct {
		Name, Driver, Mountpoint, Scope string
		Labels                          map[string]string
	}
	if err := json.Unmarshal([]byte(mustDocker(t, "volume", "inspect", vol)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("volume inspect: %v", err)
	}
	if v := inspected[0]; v.Name != vol || v.Driver != "local" || v.Scope != "local" || v.Labels["team"] != "e2e" || !strings.HasPrefix(v.Mountpoint, "gs://") {
		t.Fatalf("volume inspect = %+v", v)
	}
	if ls := mustDocker(t, "volume", "ls", "-q", "--filter", "label=team=e2e"); !strings.Contains(ls, vol) {
		t.Fatalf("volume ls --filter label=team=e2e does not list %s: %q", vol, ls)
	}

	mustDocker(t, "run", "--rm", "-v", vol+":/data", "alpine", "sh", "-c", "mkdir -p /data/sub && echo kept across containers > /data/sub/f")
	if got := mustDocker(t, "run", "--rm", "--mount", "type=volume,src="+vol+",dst=/in", "alpine", "cat", "/in/sub/f"); got != "kept across containers\n" {
		t.Fatalf("the next container read %q", got)
	}

	user := uniqueName("user")
	removeOnCleanup(t, user)
	mustDocker(t, "create", "--name", user, "-v", vol+":/data", "alpine", "true")
	var mounts []struct {
		Type, Name, Destination string
		RW                      bool
	}
	if err := json.Unmarshal([]byte(mustDocker(t, "inspect", "--format", "{{json .Mounts}}", user)), &mounts); err != nil ||
		len(mounts) != 1 || mounts[0].Type != "volume" || mounts[0].Name != vol || mounts[0].Destination != "/data" || !mounts[0].RW {
		t.Fatalf("inspect .Mounts = %+v (%v)", mounts, err)
	}
	r := docker(t, "volume", "rm", vol)
	if r.code == 0 || !strings.Contains(r.stderr, "volume is in use") {
		t.Fatalf("volume rm while a container uses it: %s", r)
	}
	mustDocker(t, "rm", user)
	mustDocker(t, "volume", "rm", vol)
	if r := docker(t, "volume", "inspect", vol); r.code == 0 || !strings.Contains(r.stderr, "no such volume") {
		t.Fatalf("inspect after rm: %s", r)
	}
	// A volume of the same name starts empty: rm deleted its files.
	mustDocker(t, "volume", "create", vol)
	if r := docker(t, "run", "--rm", "-v", vol+":/data", "alpine", "cat", "/data/sub/f"); r.code == 0 {
		t.Fatalf("a re-created volume still holds the old files: %s", r)
	}
}

// TestReadOnlyVolumeRefusesWrites: -v NAME:/data:ro reads, and a write fails as on Docker (Read-only file system).
func TestReadOnlyVolumeRefusesWrites(t *testing.T) {
	vol := uniqueName("rovol")
	t.Cleanup(func() { docker(t, "volume", "rm", "-f", vol) })
	mustDocker(t, "run", "--rm", "-v", vol+":/data", "alpine", "sh", "-c", "echo seed > /data/seed")
	if got := mustDocker(t, "run", "--rm", "-v", vol+":/data:ro", "alpine", "cat", "/data/seed"); got != "seed\n" {
		t.Fatalf("read-only read: %q", got)
	}
	r := docker(t, "run", "--rm", "-v", vol+":/data:ro", "alpine", "sh", "-c", "echo x > /data/new")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("write to a read-only volume: %s", r)
	}
	ref := referenceDocker(t, "run", "--rm", "-v", vol+"-ref:/data:ro", "alpine", "sh", "-c", "echo x > /data/new")
	defer referenceDocker(t, "volume", "rm", "-f", vol+"-ref")
	if ref.code != r.code {
		t.Errorf("exit code %d, Docker's %d", r.code, ref.code)
	}
	if r := docker(t, "run", "--rm", "-v", vol+":/data", "alpine", "ls", "/data"); strings.Contains(r.stdout, "new") {
		t.Fatalf("the refused write reached the volume: %s", r)
	}
}

// TestTmpfs: --tmpfs and --mount type=tmpfs give an in-memory file system of the size asked, as on Docker.
func TestTmpfs(t *testing.T) {
	script := "echo hi > /scratch/a && cat /scratch/a && grep -c ' /scratch tmpfs ' /proc/mounts && grep -c ' /t2 tmpfs ' /proc/mounts && " +
		"(head -c 3145728 /dev/zero > /scratch/big 2>/dev/null && echo fits || echo full)"
	args := []string{"run", "--rm", "--tmpfs", "/scratch:size=2m", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=1048576", "alpine", "sh", "-c", script}
	got := mustDocker(t, args...)
	if got != "hi\n1\n1\nfull\n" {
		t.Fatalf("tmpfs: %q", got)
	}
	if ref := referenceDocker(t, args...); ref.stdout != got {
		t.Errorf("runsock printed %q, Docker %q", got, ref.stdout)
	}
}

// TestImageVolumeAnonymous: an image's VOLUME gets an anonymous volume; run --rm removes it, rm -v removes it, and
// a plain rm keeps it (as Docker does).
func TestImageVolumeAnonymous(t *testing.T) {
	img := stack.arURL + "/volume:latest"
	before := volumeNames(t)
	mustDocker(t, "run", "--rm", img, "sh", "-c", "echo x > /data/f && cat /data/f")
	after := volumeNames(t)
	for n := range after {
		if !before[n] {
			t.Fatalf("run --rm left the anonymous volume %s", n)
		}
	}

	c := uniqueName("anon")
	removeOnCleanup(t, c)
	mustDocker(t, "create", "--name", c, img, "true")
	anon := strings.TrimSpace(mustDocker(t, "inspect", "--format", `{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}`, c))
	if len(anon) != 64 || !volumeNames(t)[anon] {
		t.Fatalf("anonymous volume for VOLUME /data: %q, listed: %v", anon, volumeNames(t)[anon])
	}
	mustDocker(t, "rm", "-v", c)
	if volumeNames(t)[anon] {
		t.Fatalf("rm -v kept the anonymous volume %s", anon)
	}

	mustDocker(t, "create", "--name", c, "-v", "/cache", "alpine", "true")
	anon = strings.TrimSpace(mustDocker(t, "inspect", "--format", `{{range .Mounts}}{{.Name}}{{end}}`, c))
	mustDocker(t, "rm", c)
	if !volumeNames(t)[anon] {
		t.Fatalf("plain rm removed the anonymous volume %s (Docker keeps it)", anon)
	}
	mustDocker(t, "volume", "prune", "-f")
	if volumeNames(t)[anon] {
		t.Fatalf("volume prune kept the unused anonymous volume %s", anon)
	}
}

// TestVolumeErrors: Docker's errors for what is wrong, and a clear refusal of what runsock cannot do yet.
func TestVolumeErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "rm", "no-such-volume-e2e"}, "no such volume"},
		{[]string{"volume", "inspect", "no-such-volume-e2e"}, "no such volume"},
		{[]string{"volume", "create", "-d", "nosuch", uniqueName("v")}, `plugin "nosuch" not found`},
		{[]string{"volume", "create", "v"}, "volume name is too short"},
		{[]string{"run", "--rm", "-v", "xx:rel", "alpine", "true"}, "mount path must be absolute"},
		{[]string{"run", "--rm", "-v", "xx:/a:bogus", "alpine", "true"}, "invalid mode: bogus"},
		{[]string{"run", "--rm", "--mount", "type=bind,src=/no-such-bind-source-e2e,dst=/x", "alpine", "true"}, "bind source path does not exist"},
		{[]string{"run", "--rm", "-v", "aa:/same", "-v", "bb:/same", "alpine", "true"}, "Duplicate mount point"},
	} {
		r := docker(t, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("docker %s: %s, want an error with %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
	for _, n := range []string{"xx", "aa", "bb"} {
		if volumeNames(t)[n] {
			t.Errorf("a refused create left volume %q", n)
		}
	}
}

// TestVolumesFrom: --volumes-from shares a container's anonymous volume; :ro makes it read-only; rm -v of the source
// removes it once no container uses it.
func TestVolumesFrom(t *testing.T) {
	src := uniqueName("vfrom")
	removeOnCleanup(t, src)
	mustDocker(t, "create", "--name", src, "-v", "/shared", "alpine", "true")
	anon := strings.TrimSpace(mustDocker(t, "inspect", "--format", `{{range .Mounts}}{{.Name}}{{end}}`, src))
	mustDocker(t, "run", "--rm", "--volumes-from", src, "alpine", "sh", "-c", "echo shared > /shared/f")
	if got := mustDocker(t, "run", "--rm", "--volumes-from", src+":ro", "alpine", "cat", "/shared/f"); got != "shared\n" {
		t.Fatalf("read through --volumes-from: %q", got)
	}
	if r := docker(t, "run", "--rm", "--volumes-from", src+":ro", "alpine", "sh", "-c", "echo x > /shared/g"); r.code == 0 {
		t.Fatalf("--volumes-from :ro took a write: %s", r)
	}
	if !volumeNames(t)[anon] {
		t.Fatalf("run --rm --volumes-from removed the source's anonymous volume %s", anon)
	}
	mustDocker(t, "rm", "-v", src)
	if volumeNames(t)[anon] {
		t.Fatalf("rm -v of the source kept %s", anon)
	}
}

// TestCopyIntoCreatedContainersVolume: as testcontainers does, create a container, docker cp a file to its volume's
// mount point (which the image does not have), start it: the process reads the file, and the volume keeps it.
func TestCopyIntoCreatedContainersVolume(t *testing.T) {
	vol, c := uniqueName("cpvol"), uniqueName("cpc")
	t.Cleanup(func() { docker(t, "volume", "rm", "-f", vol) })
	removeOnCleanup(t, c)
	mustDocker(t, "create", "--name", c, "-v", vol+":/data", "alpine", "cat", "/data/init.sql")
	src := t.TempDir() + "/init.sql"
	if err := os.WriteFile(src, []byte("create table t;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, "cp", src, c+":/data/")
	if got := mustDocker(t, "start", "-a", c); got != "create table t;\n" {
		t.Fatalf("start -a printed %q", got)
	}
	if got := mustDocker(t, "run", "--rm", "-v", vol+":/v", "alpine", "cat", "/v/init.sql"); got != "create table t;\n" {
		t.Fatalf("the volume holds %q", got)
	}
}
