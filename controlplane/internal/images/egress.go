package images

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A pull makes the control plane fetch from a host the user names. Unchecked, `docker pull 169.254.169.254/x` or a
// registry whose name resolves to 10.x would let any team member make requests from inside the control plane's
// network: to the metadata server (which hands out the control plane's tokens) or the VPC. So the registry
// transport refuses to connect to any address that is not public unicast, unless the registry host is allowed: the
// configured registry (the host of DockerHubRemote) and Config.PrivateRegistries.
//
// The check is on the address each connection is dialled to (net.Dialer.Control), after resolution: a name that
// resolves to a public address when looked at and a private one when dialled (DNS rebinding), or a public registry
// redirecting to a private address, gains nothing. No proxy is used: through one, the dialled address would be the
// proxy's, and the check meaningless.

// PrivateAddressError is a registry connection refused because the address is not public.
type PrivateAddressError struct {
	// Host is the registry as dialled ("10.0.0.5:5000", "registry.internal:443").
	Host string
	// Addr is the address it resolved to.
	Addr netip.Addr
}

func (e *PrivateAddressError) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("registry %s is at a private address (%s)", e.Host, e.Addr)
	}
	return fmt.Sprintf("registry %s is not at a public address", e.Host)
}

// Unwrap gives the kind: the control plane may not fetch from there.
func (e *PrivateAddressError) Unwrap() error { return errdefs.ErrPermissionDenied }

// nonPublic are the prefixes beyond what netip classifies (loopback, RFC 1918, unique-local, link-local, multicast,
// unspecified) that a registry on the internet never uses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, also VPC ranges
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// embedsIPv4 are IPv6 prefixes whose last 32 bits are an IPv4 address a gateway forwards to: the embedded address
// is judged in their place (64:ff9b::a9fe:a9fe is the metadata server through NAT64).
var embedsIPv4 = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// isPublic reports whether a registry may be at ip without being allowed explicitly.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range embedsIPv4 {
		if p.Contains(ip) {
			b := ip.As16()
			return isPublic(netip.AddrFrom4([4]byte(b[12:])))
		}
	}
	if ip.Is6() && ip.As16()[0] == 0x20 && ip.As16()[1] == 0x02 { // 6to4, 2002:V4ADDR::/48
		b := ip.As16()
		if !isPublic(netip.AddrFrom4([4]byte(b[2:6]))) {
			return false
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// hostAllowList matches dialled addresses ("host:port") against allowed registry hosts: "host:port" entries match
// that port only, "host" entries any port.
type hostAllowList map[string]bool

func newHostAllowList(hosts ...string) hostAllowList {
	l := hostAllowList{}
	for _, h := range hosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			l[h] = true
		}
	}
	return l
}

func (l hostAllowList) allows(addr string) bool {
	addr = strings.ToLower(addr)
	if l[addr] {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && (l[host] || l["["+host+"]"])
}

// registryTransport is go-containerregistry's default transport with the address check, and without a proxy.
func registryTransport(allowed hostAllowList, resolver *net.Resolver) http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	t.Proxy = nil
	dialer := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Resolver: resolver}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if allowed.allows(addr) {
			return dialer.DialContext(ctx, network, addr)
		}
		d := dialer
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &PrivateAddressError{Host: addr}
			}
			if !isPublic(ap.Addr()) {
				return &PrivateAddressError{Host: addr, Addr: ap.Addr().Unmap()}
			}
			return nil
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}
