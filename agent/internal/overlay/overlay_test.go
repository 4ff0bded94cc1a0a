package overlay

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

func TestScanReportsWildcardListenersOnly(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "net"), 0o755)
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0300127F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
   3: 00000000:1F92 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
`
	os.WriteFile(filepath.Join(dir, "net/tcp"), []byte(tcp), 0o644)
	os.WriteFile(filepath.Join(dir, "net/tcp6"), []byte(tcp6), 0o644)
	got, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 8080 on 0.0.0.0 (and ::ffff:0.0.0.0), 22 on ::; not 80 on 127.0.0.1, 8081 on an agent's peer address, nor
	// 8082, which is a connection, not a listener.
	if want := []int{22, 8080}; !slices.Equal(got, want) {
		t.Fatalf("Scan = %v, want %v", got, want)
	}
}

func TestScanSeesARealListener(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	got, err := Scan("/proc")
	if err != nil || !slices.Contains(got, port) {
		t.Fatalf("Scan = %v, %v; want it to hold %d", got, err, port)
	}
	ln.Close()
	got, _ = Scan("/proc")
	if slices.Contains(got, port) {
		t.Fatalf("closed port %d still reported", port)
	}
}

func TestHostsBlockIsReplacedAndRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	orig := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
	os.WriteFile(path, []byte(orig), 0o644)
	if err := writeHosts(path, [][]string{{"127.18.0.3", "db", "alias"}}); err != nil {
		t.Fatal(err)
	}
	if err := writeHosts(path, [][]string{{"127.18.0.4", "web"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got := string(b); !strings.HasPrefix(got, orig) || strings.Contains(got, "db") || !strings.Contains(got, "127.18.0.4\tweb\n") {
		t.Fatalf("hosts = %q", got)
	}
	if err := writeHosts(path, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatalf("hosts after every peer left = %q", b)
	}
}

// An Overlay listens on a peer's address and port, and stops when the peer goes.
func TestSetPeersListensOnPeerAddresses(t *testing.T) {
	dir := t.TempDir()
	o := New(Options{Link: refusing{}, HostsPath: filepath.Join(dir, "hosts"), NsswitchPath: filepath.Join(dir, "nsswitch.conf")})
	defer o.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	o.SetPeers(peersAt("127.31.0.2", port))
	// The link refuses the relay here, so the accepted connection is reset: accepted, unlike a closed port.
	c, err := net.Dial("tcp", net.JoinHostPort("127.31.0.2", strconv.Itoa(port)))
	if err == nil {
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("a refused relay: %v, want a reset connection", err)
	}
	o.SetPeers(nil)
	if c, err := net.Dial("tcp", net.JoinHostPort("127.31.0.2", strconv.Itoa(port))); err == nil || !strings.Contains(err.Error(), "refused") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("after the peer left: %v, want connection refused", err)
	}
}

func peersAt(addr string, port int) []linkproto.Peer {
	return []linkproto.Peer{{Ref: "peer", Addr: addr, Names: []string{"peer"}, Ports: []int{port}}}
}

// refusing is a link whose control plane refuses every relayed connection.
type refusing struct{}

func (refusing) SendPorts([]int) error { return nil }
func (refusing) Dial(context.Context, string, int) (linkproto.FrameStream, func(), error) {
	return nil, nil, errors.New("refused")
}

func TestNsswitchIsWrittenOnlyWhenMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nsswitch.conf")
	if err := ensureNsswitch(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hosts: files dns\n" {
		t.Fatalf("written %q", b)
	}
	os.WriteFile(path, []byte("hosts: dns\n"), 0o644)
	if err := ensureNsswitch(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hosts: dns\n" {
		t.Fatalf("the image's own file was changed: %q", b)
	}
}
