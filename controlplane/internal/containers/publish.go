package containers

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Published ports (-p, -P) are served by localproxy on the user's machine, which tunnels each connection through
// the control plane to the agent (127.0.0.1:PORT inside the container). The control plane only decides the host
// ports: the user's, or, for -P and -p CPORT, one from Docker's ephemeral range, recorded at create so docker port,
// ps and inspect show them and localproxy listens on them.

const ephemeralLow, ephemeralHigh = 32768, 60999

// publishedPorts returns the container's port map: every binding with its host port decided.
func publishedPorts(hc container.HostConfig, exposed network.PortSet) network.PortMap {
	out := network.PortMap{}
	for port, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if b.HostPort == "" {
				b.HostPort = ephemeralPort()
			}
			if !b.HostIP.IsValid() {
				b.HostIP = netip.IPv4Unspecified()
			}
			out[port] = append(out[port], b)
		}
	}
	if hc.PublishAllPorts {
		for port := range exposed {
			if _, ok := out[port]; !ok {
				out[port] = []network.PortBinding{{HostIP: netip.IPv4Unspecified(), HostPort: ephemeralPort()}}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func ephemeralPort() string {
	var b [2]byte
	rand.Read(b[:])
	return strconv.Itoa(ephemeralLow + int(binary.BigEndian.Uint16(b[:]))%(ephemeralHigh-ephemeralLow+1))
}
