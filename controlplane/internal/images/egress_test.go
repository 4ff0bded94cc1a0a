package images

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/jsonstream"
	"golang.org/x/net/dns/dnsmessage"
)

func TestIsPublic(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"142.250.1.1", true},
		{"2001:4860:4860::8888", true},
		{"64:ff9b::808:808", true}, // 8.8.8.8 through NAT64
		{"127.0.0.1", false},
		{"127.10.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // the metadata server
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"198.18.0.1", false},
		{"::", false},
		{"::1", false},
		{"fd00:ec2::254", false}, // unique-local: a metadata server's IPv6 address
		{"fe80::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::a9fe:a9fe", false},   // 169.254.169.254 through NAT64
		{"2002:a9fe:a9fe::1", false},    // 169.254.169.254 through 6to4
		{"2002:0808:0808::1", true},     // 8.8.8.8 through 6to4
		{"fec0::1", false},              // site-local
		{"2001:db8::1", false},          // documentation
		{"::ffff:10.0.0.1", false},      // IPv4-mapped private
		{"64:ff9b:1::a00:1", false},     // local-use NAT64 of 10.0.0.1
		{"64:ff9b:1::808:808", true},    // local-use NAT64 of 8.8.8.8
		{"2600:1900:4000::1", true},     // Google Cloud
		{"::ffff:142.250.1.1", true},    // IPv4-mapped public
		{"203.0.113.9", false},          // documentation
		{"192.0.0.170", false},          // IETF assignments (NAT64 discovery)
		{"240.0.0.1", false},            // reserved
		{"fc00::1", false},              // unique-local
		{"fe80::a9fe:a9fe%eth0", false}, // link-local with a zone
	}
	for _, tt := range tests {
		if got := isPublic(netip.MustParseAddr(tt.addr)); got != tt.public {
			t.Errorf("isPublic(%s) = %v, want %v", tt.addr, got, tt.public)
		}
	}
}

func TestHostAllowList(t *testing.T) {
	l := newHostAllowList("127.0.0.1:5000", "Registry.Internal", "[::1]", " ")
	for addr, want := range map[string]bool{
		"127.0.0.1:5000":             true,
		"127.0.0.1:5001":             false,
		"registry.internal:443":      true,
		"REGISTRY.internal:5000":     true,
		"evil.registry.internal:443": false,
		"[::1]:5000":                 true,
		"10.0.0.1:443":               false,
		":443":                       false,
	} {
		if got := l.allows(addr); got != want {
			t.Errorf("allows(%q) = %v, want %v", addr, got, want)
		}
	}
}

// startRegistry serves an in-memory registry on addr ("127.0.0.1:0") with an image at repo:v1, returning its host.
func startRegistry(t *testing.T, addr, repo string, h func(http.Handler) http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	var handler http.Handler = registry.New(registry.Logger(nilLogger()))
	if h != nil {
		handler = h(handler)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(64, 1)
	tag, err := name.NewTag(host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return host
}

// TestPullRefusesPrivateRegistries: a registry at a loopback, link-local or other private address, or named by a
// name that resolves to one, is refused with Docker's "pull access denied" unless allowed; the control plane's own
// registry (the Docker Hub remote's host) and the configured private registries are allowed.
func TestPullRefusesPrivateRegistries(t *testing.T) {
	host := startRegistry(t, "127.0.0.1:0", "p/app", nil)
	_, port, _ := net.SplitHostPort(host)
	noProgress := func(jsonstream.Message) error { return nil }
	refused := []string{
		host + "/p/app:v1",
		"localhost:" + port + "/p/app:v1",
		"[::1]:" + port + "/p/app:v1",
		"169.254.169.254/computemetadata/v1:latest",
		"10.0.0.1:5000/p/app:v1",
	}
	s := New(nil, Config{DockerHubRemote: "registry.example/p/dockerhub"}, nil)
	for _, ref := range refused {
		t.Run(ref, func(t *testing.T) {
			err := s.Pull(context.Background(), "u@example.com", PullRequest{Ref: ref}, noProgress)
			if !errdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "pull access denied for ") ||
				!strings.Contains(err.Error(), "private address") {
				t.Fatalf("err = %v, want pull access denied for a private address", err)
			}
		})
	}

	allowed := []struct {
		name string
		cfg  Config
		ref  string
	}{
		{"configured host:port", Config{DockerHubRemote: "registry.example/p/dockerhub", PrivateRegistries: []string{host}}, host + "/p/app:v1"},
		{"configured host, any port", Config{DockerHubRemote: "registry.example/p/dockerhub", PrivateRegistries: []string{"localhost"}}, "localhost:" + port + "/p/app:v1"},
		{"the control plane's own registry", Config{DockerHubRemote: host + "/p/dockerhub"}, host + "/p/app:v1"},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRef(tt.ref, tt.cfg.DockerHubRemote, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := New(nil, tt.cfg, nil).resolve(context.Background(), r, defaultPlatform(t)); err != nil {
				t.Fatalf("resolve %s: %v", tt.ref, err)
			}
		})
	}
}

func defaultPlatform(t *testing.T) v1.Platform {
	t.Helper()
	p, err := parsePlatform("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRedirectToPrivateAddressRefused: an allowed registry that redirects the manifest to another private address,
// by a name (go-containerregistry refuses redirects to private IP literals itself), does not get the control plane
// to fetch from there.
func TestRedirectToPrivateAddressRefused(t *testing.T) {
	inner := startRegistry(t, "127.0.0.1:0", "p/app", nil)
	_, innerPort, _ := net.SplitHostPort(inner)
	host := startRegistry(t, "127.0.0.1:0", "p/app", func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				http.Redirect(w, r, "http://localhost:"+innerPort+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	s := New(nil, Config{DockerHubRemote: host + "/p/dockerhub"}, nil)
	r, _ := parseRef(host+"/p/app:v1", s.cfg.DockerHubRemote, true)
	_, _, err := s.resolve(context.Background(), r, defaultPlatform(t))
	if !errdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "registry localhost:"+innerPort+" is at a private address") {
		t.Fatalf("err = %v, want the redirect to localhost refused", err)
	}
}

// TestDialledAddressIsChecked: the check is on the address the name resolves to when dialled. A resolver that
// answers a loopback address for a name that looks public (DNS rebinding) gets the connection refused; allowing the
// name lets it through.
func TestDialledAddressIsChecked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	resolver := rebindingResolver(t, netip.MustParseAddr("127.0.0.1"))
	url := "http://registry.rebind.example:" + port + "/v2/"

	resp, err := (&http.Client{Transport: registryTransport(newHostAllowList(), resolver)}).Get(url)
	var perr *PrivateAddressError
	if !errors.As(err, &perr) || perr.Addr != netip.MustParseAddr("127.0.0.1") || perr.Host != "registry.rebind.example:"+port {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("err = %v, want a PrivateAddressError for 127.0.0.1", err)
	}

	resp, err = (&http.Client{Transport: registryTransport(newHostAllowList("registry.rebind.example"), resolver)}).Get(url)
	if err != nil {
		t.Fatalf("allowed name: %v", err)
	}
	resp.Body.Close()
}

// rebindingResolver is a Go resolver whose DNS server answers every A question with addr (and AAAA with nothing).
func rebindingResolver(t *testing.T, addr netip.Addr) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			for {
				var n [2]byte // DNS over a stream: a 2-byte length, then the message
				if _, err := io.ReadFull(server, n[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(server, msg); err != nil {
					return
				}
				reply, err := answer(msg, addr)
				if err != nil {
					t.Errorf("fake DNS: %v", err)
					return
				}
				if _, err := server.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(reply))), reply...)); err != nil {
					return
				}
			}
		}()
		return client, nil
	}}
}

func answer(query []byte, addr netip.Addr) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0}
		if err := b.AResource(rh, dnsmessage.AResource{A: addr.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
