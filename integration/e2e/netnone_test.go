package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// `docker run --network none`: the process has only a loopback interface (up: it talks to itself over 127.0.0.1)
// and reaches nothing else, neither does an exec in it; inspect says none. Same steps on both engines; a listener
// on the host counts who reached it, so the test does not depend on a client's error message. A container on the
// default network reaching the same listener shows that the listener can be reached at all.
func TestNetworkNone(t *testing.T) {
	gateway, _, err := net.SplitHostPort(os.Getenv("GCPSIM_METADATA")) // a host address both engines' containers reach
	if err != nil {
		t.Fatalf("GCPSIM_METADATA %q: %v", os.Getenv("GCPSIM_METADATA"), err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var reached atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	dial := fmt.Sprintf("nc -w 3 %s %d </dev/null", gateway, port)
	script := `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
nc -l -p 8081 > /tmp/got & sleep 0.5; echo over-loopback | nc -w 2 127.0.0.1 8081; sleep 0.5; cat /tmp/got
` + dial + `; echo dialled`

	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			// The control: on the default network the listener is reached.
			before := reached.Load()
			e.must(t, "run", "--rm", "alpine", "sh", "-c", dial)
			if reached.Load() == before {
				t.Fatalf("a container on the default network did not reach %s:%d: the test cannot tell isolation from a dead listener", gateway, port)
			}

			name := uniqueName("netnone")
			t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
			before = reached.Load()
			out := e.must(t, "run", "--name", name, "--network", "none", "alpine", "sh", "-c", script)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 1 || lines[0] != "lo" || strings.Contains(out, "eth") {
				t.Errorf("interfaces with --network none:\n%s\nwant only lo", out)
			}
			if !strings.Contains(out, "over-loopback") {
				t.Errorf("the loopback interface does not carry a connection:\n%s", out)
			}
			if !strings.Contains(out, "dialled") || reached.Load() != before {
				t.Errorf("a --network none container reached the host's listener (%d connections):\n%s", reached.Load()-before, out)
			}
			if got := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", name)); got != "none none" {
				t.Errorf("inspect: %q, want NetworkMode none and the network none", got)
			}

			// An exec in a --network none container is off the network too.
			running := e.run(t, "netnone-exec", "--network", "none", "alpine", "sleep", "600")
			before = reached.Load()
			out = e.must(t, "exec", running, "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; "+dial+"; echo dialled")
			if !strings.HasPrefix(out, "lo\n") || strings.Contains(out, "eth") || reached.Load() != before {
				t.Errorf("exec in a --network none container:\n%s\n%d connections; want only lo and none", out, reached.Load()-before)
			}
		})
	}
}
