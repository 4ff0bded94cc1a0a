package overlay

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// tcpListen is the st column of a listening socket in /proc/net/tcp{,6}.
const tcpListen = "0A"

// Scan returns the TCP ports something in the container listens on for every address (0.0.0.0, :: or
// ::ffff:0.0.0.0), sorted: what a peer can reach. Sockets bound to one address (127.0.0.1, or the agent's own
// listeners on peers' addresses) are not reachable from peers, as on Docker. procRoot is "/proc" but for tests.
func Scan(procRoot string) ([]int, error) {
	seen := map[int]bool{}
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(procRoot + "/" + name)
		if os.IsNotExist(err) {
			continue // no IPv6
		}
		if err != nil {
			return nil, err
		}
		err = parseTCP(f, seen)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

func parseTCP(r io.Reader, seen map[int]bool) error {
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		addr, port, ok := strings.Cut(fields[1], ":")
		if !ok || !wildcard(addr) {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil || p == 0 {
			continue
		}
		seen[int(p)] = true
	}
	return sc.Err()
}

// wildcard reports whether a /proc/net/tcp address (hex) is 0.0.0.0, :: or ::ffff:0.0.0.0.
func wildcard(hex string) bool {
	switch hex {
	case "00000000", "00000000000000000000000000000000", "0000000000000000FFFF000000000000":
		return true
	}
	return false
}
