package testimages

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/usr/bin/busybox"

// Names are the images this package builds.
var Names = []string{"alpine", "busybox", "httpd", "volume", "nonroot"}

// VolumeFiles are the files the volume image has under its VOLUME /data, with their contents.
var VolumeFiles = map[string]string{
	"data/README":        "files of the image under its VOLUME\n",
	"data/conf/app.conf": "listen=8080\n",
}

// epoch is the time on every file and the image's creation, so that builds are reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoBusybox is returned when busybox-static is not installed.
var ErrNoBusybox = errors.New("busybox-static is not installed (" + BusyboxPath + " missing): run `apt-get install busybox-static`")

var base struct {
	once  sync.Once
	layer v1.Layer
	err   error
}

// Image builds one of Names: /bin/busybox with a symlink for each of its applets (sh, echo, cat, sleep, httpd, …),
// /etc/{os-release,hostname,passwd,group} with root and nobody, /tmp (1777). alpine and busybox run `sh`; httpd
// serves /www/index.html with `httpd -f -p 8080 -h /www` and exposes 8080/tcp; volume runs `sh` with VOLUME /data
// over the image's files VolumeFiles;
// nonroot is alpine with USER nobody (an image whose user cannot write /etc/hosts), this machine's glibc getent
// (GetentPath with the libraries ldd names) and musl-hosts, a static musl program printing "ADDRESS NAME" as
// `getent hosts` does (built with musl-gcc), so names resolve as glibc (Debian) and musl (Alpine) programs resolve
// them.
// The image is for this machine's architecture (that of its busybox) and the same build gives the same digest.
func Image(name string) (v1.Image, error) {
	if !slices.Contains(Names, name) {
		return nil, fmt.Errorf("test image %q: want one of %s", name, strings.Join(Names, ", "))
	}
	base.once.Do(func() { base.layer, base.err = baseLayer() })
	if base.err != nil {
		return nil, base.err
	}
	layers := []v1.Layer{base.layer}
	cfg := v1.Config{Cmd: []string{"sh"}, Env: []string{defaultPath}, WorkingDir: "/"}
	if name == "httpd" {
		www, err := layerOf([]file{
			{name: "www", mode: fs.ModeDir | 0o755},
			{name: "www/index.html", mode: 0o644, data: []byte("<html><body><h1>It works!</h1><p>runsock test image httpd</p></body></html>\n")},
		})
		if err != nil {
			return nil, err
		}
		layers = append(layers, www)
		cfg.Cmd = []string{"httpd", "-f", "-p", "8080", "-h", "/www"}
		cfg.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	}
	if name == "volume" {
		// An image with a VOLUME, as database images have: each container gets an anonymous volume at /data, and
		// Docker copies the image's files there into it (VolumeFiles).
		data, err := layerOf([]file{
			{name: "data", mode: fs.ModeDir | 0o755},
			{name: "data/README", mode: 0o644, data: []byte(VolumeFiles["data/README"])},
			{name: "data/conf", mode: fs.ModeDir | 0o755},
			{name: "data/conf/app.conf", mode: 0o644, data: []byte(VolumeFiles["data/conf/app.conf"])},
		})
		if err != nil {
			return nil, err
		}
		layers = append(layers, data)
		cfg.Volumes = map[string]struct{}{"/data": {}}
	}
	if name == "nonroot" {
		cfg.User = "nobody"
		getent, err := getentLayer()
		if err != nil {
			return nil, err
		}
		musl, err := muslHostsLayer()
		if err != nil {
			return nil, err
		}
		layers = append(layers, getent, musl)
	}
	cfg.Labels = map[string]string{"org.opencontainers.image.title": name, "org.opencontainers.image.vendor": "runsock test images"}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", name, err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", name, err)
	}
	return img, nil
}

// file is one entry of a layer; a symlink has link set.
type file struct {
	name string
	mode fs.FileMode
	data []byte
	link string
}

func baseLayer() (v1.Layer, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoBusybox
	}
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	version := "busybox"
	if v, err := exec.Command(BusyboxPath).Output(); err == nil || len(v) > 0 {
		version, _, _ = strings.Cut(string(v), "\n")
	}
	var files []file
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "dev", "proc", "sys", "var", "home"} {
		mode := fs.FileMode(0o755)
		if d == "root" {
			mode = 0o700
		}
		files = append(files, file{name: d, mode: fs.ModeDir | mode})
	}
	files = append(files,
		file{name: "tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		file{name: "bin/busybox", mode: 0o755, data: bb},
		file{name: "etc/os-release", mode: 0o644, data: []byte(osRelease(version))},
		file{name: "etc/hostname", mode: 0o644, data: []byte("runsock-test\n")},
		file{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		file{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
	)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" || strings.Contains(applet, "..") {
			continue
		}
		files = append(files, file{name: applet, mode: fs.ModeSymlink | 0o777, link: "/bin/busybox"})
	}
	return layerOf(files)
}

// ErrNoMusl is returned when musl-gcc is not installed.
var ErrNoMusl = errors.New("musl-gcc is not installed: run `apt-get install musl-tools`")

// muslHostsSource resolves one name with musl's getaddrinfo (its /etc/hosts, then DNS) and prints the first IPv4
// address as `getent hosts` prints it.
const muslHostsSource = `#include <stdio.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
	if (argc != 2) { fprintf(stderr, "usage: musl-hosts NAME\n"); return 2; }
	struct addrinfo hints = {0}, *res;
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(argv[1], NULL, &hints, &res) != 0) return 2;
	char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, buf, sizeof buf);
	printf("%s %s\n", buf, argv[1]);
	return 0;
}
`

// muslHostsLayer holds /usr/bin/musl-hosts, built from muslHostsSource with musl-gcc -static.
func muslHostsLayer() (v1.Layer, error) {
	if _, err := exec.LookPath("musl-gcc"); err != nil {
		return nil, ErrNoMusl
	}
	dir, err := os.MkdirTemp("", "testimages-musl")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src, bin := path.Join(dir, "hosts.c"), path.Join(dir, "musl-hosts")
	if err := os.WriteFile(src, []byte(muslHostsSource), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("musl-gcc", "-static", "-Os", "-s", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("musl-gcc: %v: %s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return layerOf([]file{{name: "usr/bin/musl-hosts", mode: 0o755, data: data}})
}

// GetentPath is glibc's getent (Debian's libc-bin), copied into the nonroot image with its libraries.
const GetentPath = "/usr/bin/getent"

// getentLayer holds GetentPath and every library `ldd` says it loads, at the paths it loads them from.
func getentLayer() (v1.Layer, error) {
	out, err := exec.Command("ldd", GetentPath).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s (apt-get install libc-bin): %w", GetentPath, err)
	}
	paths := []string{GetentPath}
	for _, line := range strings.Split(string(out), "\n") {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
			paths = append(paths, f[2])
		} else if len(f) >= 1 && strings.HasPrefix(f[0], "/") {
			paths = append(paths, f[0])
		}
	}
	var dirs, files []file
	seen := map[string]bool{}
	for _, p := range paths {
		data, err := os.ReadFile(p) // through symlinks: the image gets the file at the path the loader asks for
		if err != nil {
			return nil, fmt.Errorf("getent layer: %w", err)
		}
		rel := strings.TrimPrefix(p, "/")
		var parents []file
		for d := path.Dir(rel); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			parents = append([]file{{name: d, mode: fs.ModeDir | 0o755}}, parents...)
		}
		dirs = append(dirs, parents...)
		files = append(files, file{name: rel, mode: 0o755, data: data})
	}
	return layerOf(append(dirs, files...))
}

func osRelease(version string) string {
	return fmt.Sprintf("NAME=\"runsock test image\"\nID=runsock-test\nVERSION_ID=1\nPRETTY_NAME=%q\nHOME_URL=\"https://github.com/runsock/runsock\"\n",
		"runsock test image ("+version+")")
}

// layerOf builds an OCI layer from files, in order, with fixed times and root ownership.
func layerOf(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: int64(f.mode.Perm()), ModTime: epoch, Format: tar.FormatPAX}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		switch {
		case f.mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		case f.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", path.Clean(f.name), err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
