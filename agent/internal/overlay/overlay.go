package overlay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// Link is what the overlay needs of the agent's link (*link.Client).
type Link interface {
	// SendPorts reports the container's listening ports; an error when no link is up (LinkUp resends).
	SendPorts(ports []int) error
	// Dial opens a relayed connection to port inside the peer ref: a flow-controlled stream after Started, and a
	// function that ends it. An error when the control plane refused (not a peer, nothing listening).
	Dial(ctx context.Context, ref string, port int) (linkproto.FrameStream, func(), error)
}

// Options configure an Overlay.
type Options struct {
	Link Link
	Log  *slog.Logger
	// ProcRoot is "/proc", HostsPath "/etc/hosts" and NsswitchPath "/etc/nsswitch.conf" but for tests.
	ProcRoot, HostsPath, NsswitchPath string
	// ScanEvery is the port scan's period (0 = 250 ms): a port opened in the container is reported within it.
	ScanEvery time.Duration
}

// Overlay is one container's side of its networks. Create with New, run with Run, end with Close.
type Overlay struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	kick chan struct{}

	mu        sync.Mutex
	listeners map[string]*listener // "addr:port" → its listener
	ports     []int                // last scan
	reported  bool                 // ports reported on the current link
	closed    bool
}

type listener struct {
	ref  string
	port int
	ln   net.Listener
}

// New returns an Overlay.
func New(o Options) *Overlay {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.HostsPath == "" {
		o.HostsPath = "/etc/hosts"
	}
	if o.NsswitchPath == "" {
		o.NsswitchPath = "/etc/nsswitch.conf"
	}
	if o.ScanEvery == 0 {
		o.ScanEvery = 250 * time.Millisecond
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Overlay{opts: o, log: o.Log, ctx: ctx, stop: stop, kick: make(chan struct{}, 1), listeners: map[string]*listener{}}
}

// LinkUp says a new link is up: the ports are reported on it (the control plane forgets them with a link).
func (o *Overlay) LinkUp() {
	o.mu.Lock()
	o.reported = false
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Run scans the container's listening ports and reports changes until ctx ends.
func (o *Overlay) Run(ctx context.Context) {
	t := time.NewTicker(o.opts.ScanEvery)
	defer t.Stop()
	for {
		ports, err := Scan(o.opts.ProcRoot)
		if err != nil {
			o.log.Warn("scan listening ports", "err", err)
		} else {
			o.mu.Lock()
			changed := !slices.Equal(ports, o.ports) || !o.reported
			o.ports = ports
			o.mu.Unlock()
			if changed {
				ok := o.opts.Link.SendPorts(ports) == nil
				o.mu.Lock()
				o.reported = ok
				o.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

// SetPeers makes the container's peers current: their names in /etc/hosts, a listener on each address and port
// (new ports open, gone ones close; connections already relayed go on).
func (o *Overlay) SetPeers(peers []linkproto.Peer) {
	var entries [][]string
	want := map[string]linkproto.Peer{}
	wantPort := map[string]int{}
	for _, p := range peers {
		if net.ParseIP(p.Addr) == nil || !net.ParseIP(p.Addr).IsLoopback() {
			continue // only loopback addresses: anything else would shadow a real host
		}
		if len(p.Names) > 0 {
			entries = append(entries, append([]string{p.Addr}, p.Names...))
		}
		if p.Self {
			continue
		}
		for _, port := range p.Ports {
			k := net.JoinHostPort(p.Addr, strconv.Itoa(port))
			want[k], wantPort[k] = p, port
		}
	}
	if len(entries) > 0 {
		if err := ensureNsswitch(o.opts.NsswitchPath); err != nil {
			o.log.Warn("network names: cannot write "+o.opts.NsswitchPath, "err", err)
		}
	}
	if err := writeHosts(o.opts.HostsPath, entries); err != nil {
		o.log.Warn("network names: cannot write "+o.opts.HostsPath, "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	for k, l := range o.listeners {
		if p, ok := want[k]; !ok || p.Ref != l.ref {
			l.ln.Close()
			delete(o.listeners, k)
		}
	}
	for k, p := range want {
		if _, ok := o.listeners[k]; ok {
			continue
		}
		ln, err := net.Listen("tcp", k)
		if err != nil {
			// The container itself listens on this port for every address: the peer's port cannot be offered
			// here (docs/networks.md).
			o.log.Warn("network peer port not offered", "addr", k, "err", err)
			continue
		}
		l := &listener{ref: p.Ref, port: wantPort[k], ln: ln}
		o.listeners[k] = l
		o.wg.Add(1)
		go o.accept(l)
	}
}

func (o *Overlay) accept(l *listener) {
	defer o.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			o.relay(c.(*net.TCPConn), l.ref, l.port)
		}()
	}
}

// relay carries one accepted connection to the peer. A refusal resets the connection, as a closed port does.
func (o *Overlay) relay(c *net.TCPConn, ref string, port int) {
	defer c.Close()
	st, end, err := o.opts.Link.Dial(o.ctx, ref, port)
	if err != nil {
		o.log.Info("relay refused", "peer", ref, "port", port, "err", err)
		_ = c.SetLinger(0)
		return
	}
	defer end()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var chunks linkproto.Chunker
		for {
			b, rerr := chunks.Read(c)
			if len(b) > 0 {
				if st.Send(&linkproto.Frame{Type: linkproto.FrameData, Data: b}) != nil {
					return
				}
			}
			if rerr != nil {
				if errors.Is(rerr, io.EOF) {
					_ = st.Send(&linkproto.Frame{Type: linkproto.FrameClose})
				}
				return
			}
		}
	}()
	var f linkproto.Frame
	for {
		if err := st.Recv(&f); err != nil {
			_ = c.SetLinger(0)
			return
		}
		switch f.Type {
		case linkproto.FrameData:
			if _, err := c.Write(f.Data); err != nil {
				return
			}
		case linkproto.FrameClose:
			_ = c.CloseWrite()
		case linkproto.FrameResult, linkproto.FrameError:
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			return
		}
	}
}

// Close stops every listener and relayed connection and waits for them.
func (o *Overlay) Close() {
	o.mu.Lock()
	o.closed = true
	for k, l := range o.listeners {
		l.ln.Close()
		delete(o.listeners, k)
	}
	o.mu.Unlock()
	o.stop()
	o.wg.Wait()
}
