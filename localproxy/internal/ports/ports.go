package ports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Upstream is the control plane client.
type Upstream interface {
	RoundTrip(*http.Request) (*http.Response, error)
	Target(path, rawQuery string) *url.URL
}

// TunnelPath is the control plane route for one tunnelled connection: POST TunnelPath(id)?port=CPORT.
func TunnelPath(id string) string { return "/runsock/v1/containers/" + url.PathEscape(id) + "/tunnel" }

// pollInterval is how often inspect is polled when the events stream is unavailable.
const pollInterval = 2 * time.Second

// binding is one published port.
type binding struct{ hostPort, containerPort string }

type created struct {
	id, name string
}

// Publisher opens and closes published ports. Create it with New; Close it once.
type Publisher struct {
	up  Upstream
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	created map[string]created      // by ID: containers with published ports created through this proxy
	active  map[string]*publication // by ID
}

// New returns a Publisher. log nil = discard.
func New(up Upstream, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Publisher{up: up, log: log, ctx: ctx, cancel: cancel, created: map[string]created{}, active: map[string]*publication{}}
}

// createRequest is the part of a container create body that publishes ports.
type createRequest struct {
	HostConfig struct {
		PortBindings    map[string][]portBinding
		PublishAllPorts bool
	}
}

type portBinding struct {
	HostIp   string
	HostPort string
}

// Created records id when its create request publishes ports.
func (p *Publisher) Created(id, name string, body []byte) {
	var req createRequest
	if json.Unmarshal(body, &req) != nil || (len(req.HostConfig.PortBindings) == 0 && !req.HostConfig.PublishAllPorts) {
		return
	}
	p.mu.Lock()
	p.created[id] = created{id: id, name: strings.TrimPrefix(name, "/")}
	p.mu.Unlock()
}

func (p *Publisher) lookup(ref string) (created, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ref = strings.TrimPrefix(ref, "/")
	var found []created
	for _, c := range p.created {
		if c.id == ref || c.name == ref {
			return c, true
		}
		if strings.HasPrefix(c.id, ref) {
			found = append(found, c)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return created{}, false
}

// publication is the listeners of one run of a container.
type publication struct{ lns []net.Listener }

// Started opens the listeners of ref, if it is one of ours, for the run that just started: listeners of its previous
// run still open (a restart, whose die this proxy has not seen yet) are closed first, as that run's ports are over.
func (p *Publisher) Started(ctx context.Context, ref string) {
	c, ok := p.lookup(ref)
	if !ok {
		return
	}
	p.publish(ctx, c.id, true)
}

// publish opens id's listeners; replace says what to do with ones already open: close them (a new run) or leave
// them (Reopen of a run already published).
func (p *Publisher) publish(ctx context.Context, id string, replace bool) {
	p.mu.Lock()
	_, open := p.active[id]
	p.mu.Unlock()
	if open {
		if !replace {
			return
		}
		p.unpublish(id, nil)
	}
	lns, cports, err := p.listen(ctx, id)
	if err != nil {
		p.log.Warn("ports: ports not published", "container", id, "err", err)
		return
	}
	if len(lns) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, open := p.active[id]; open || p.ctx.Err() != nil { // published meanwhile, or closed (Close cancels under mu)
		for _, ln := range lns {
			ln.Close()
		}
		return
	}
	pub := &publication{lns: lns}
	p.active[id] = pub
	p.wg.Add(len(lns) + 1)
	for i, ln := range lns {
		go p.accept(ln, id, cports[i])
	}
	go p.watch(id, pub)
}

// listedContainer is the part of GET /containers/json that Reopen reads.
type listedContainer struct {
	ID    string `json:"Id"`
	Names []string
	Ports []struct {
		PublicPort uint16
		Type       string
	}
}

// ReopenInBackground runs Reopen on a goroutine Close waits for, logging a failure (the control plane may be
// unreachable when the proxy starts; the containers' ports then stay closed until they are started again).
func (p *Publisher) ReopenInBackground() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.Reopen(p.ctx); err != nil && p.ctx.Err() == nil {
			p.log.Warn("ports: cannot reopen the published ports of running containers", "err", err)
		}
	}()
}

// Reopen publishes again the ports of the caller's running containers, for a proxy that restarted (crash, reboot):
// the containers kept running and still show their published ports, so the listeners must come back. A port
// another process holds (another localproxy of the same user) is logged and skipped.
func (p *Publisher) Reopen(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.up.Target("/containers/json", "").String(), nil)
	if err != nil {
		return err
	}
	resp, err := p.up.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("list running containers: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list running containers: %s", resp.Status)
	}
	var list []listedContainer
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return fmt.Errorf("list running containers: %w", err)
	}
	for _, c := range list {
		if !publishesTCP(c) {
			continue
		}
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		p.mu.Lock()
		p.created[c.ID] = created{id: c.ID, name: name}
		p.mu.Unlock()
		p.publish(ctx, c.ID, false)
	}
	return nil
}

func publishesTCP(c listedContainer) bool {
	for _, port := range c.Ports {
		if port.PublicPort != 0 && (port.Type == "" || port.Type == "tcp") {
			return true
		}
	}
	return false
}

// inspect is the part of container inspect the publisher reads.
type inspect struct {
	State struct {
		Running bool
	}
}

func (p *Publisher) inspect(ctx context.Context, id string) (inspect, int, error) {
	var in inspect
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.up.Target("/containers/"+url.PathEscape(id)+"/json", "").String(), nil)
	if err != nil {
		return in, 0, err
	}
	resp, err := p.up.RoundTrip(req)
	if err != nil {
		return in, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return in, resp.StatusCode, fmt.Errorf("inspect %s: %s", id, resp.Status)
	}
	return in, resp.StatusCode, json.NewDecoder(resp.Body).Decode(&in)
}

// published is the control plane's GET PortsPath answer (containers.PublishedPorts).
type published struct {
	Execution string
	Ports     []publishedPort
}

type publishedPort struct {
	Port     string
	Index    int
	HostPort string
	Random   bool
}

// assignment is one element of the POST PortsPath body (containers.PortAssignment).
type assignment struct {
	Port     string
	Index    int
	Previous string
	HostPort string
}

// listen opens a listener for every TCP binding of id: on its host port when it has one, else (a random port not yet
// assigned for this run) on a port the kernel picks, which it then reports to the control plane so that inspect,
// docker port and ps show it. A report refused (another proxy of the user claimed the port first, or the container
// was started again) closes the listeners it concerned.
func (p *Publisher) listen(ctx context.Context, id string) ([]net.Listener, []string, error) {
	var pp published
	if err := p.call(ctx, http.MethodGet, id, nil, &pp); err != nil {
		return nil, nil, err
	}
	var lns, assigned []net.Listener
	var cports []string
	var as []assignment
	seen := map[string]bool{}
	for _, b := range pp.Ports {
		cport, proto, _ := strings.Cut(b.Port, "/")
		if proto != "" && proto != "tcp" {
			continue // only TCP can be tunnelled
		}
		if b.HostPort != "" && seen[b.HostPort] {
			continue
		}
		var ln net.Listener
		var err error
		if b.HostPort != "" {
			// Taken here (another program, or this user's other machine is the one that publishes it): skipped,
			// never moved, so that what inspect shows stays true for the proxy that bound it.
			if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", b.HostPort)); err != nil {
				p.log.Error("ports: cannot publish", "container", id, "host_port", b.HostPort, "err", err)
				continue
			}
		} else { // random and not yet assigned for this run: let the kernel choose a free port
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				p.log.Error("ports: cannot publish", "container", id, "container_port", b.Port, "err", err)
				continue
			}
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			as = append(as, assignment{Port: b.Port, Index: b.Index, Previous: b.HostPort, HostPort: port})
			assigned = append(assigned, ln)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		seen[port] = true
		lns, cports = append(lns, ln), append(cports, cport)
	}
	if len(as) > 0 {
		body := struct {
			Execution string
			Ports     []assignment
		}{pp.Execution, as}
		if err := p.call(ctx, http.MethodPost, id, body, nil); err != nil {
			p.log.Warn("ports: random host ports not recorded; closing them", "container", id, "err", err)
			keep, kept := lns[:0], cports[:0]
			for i, ln := range lns {
				if slices.Contains(assigned, ln) {
					ln.Close()
					continue
				}
				keep, kept = append(keep, ln), append(kept, cports[i])
			}
			lns, cports = keep, kept
		}
	}
	for i, ln := range lns {
		p.log.Info("ports: published", "container", id, "addr", ln.Addr().String(), "container_port", cports[i])
	}
	return lns, cports, nil
}

// PortsPath is the control plane route for a running container's published ports: GET them, POST the host ports
// chosen for random ones.
func PortsPath(id string) string { return "/runsock/v1/containers/" + url.PathEscape(id) + "/ports" }

// call sends in (nil: no body) to PortsPath(id) and decodes the answer into out (nil: discard).
func (p *Publisher) call(ctx context.Context, method, id string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.up.Target(PortsPath(id), "").String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.up.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s published ports of %s: %w", method, id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var m struct{ Message string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&m)
		return fmt.Errorf("%s published ports of %s: %s: %s", method, id, resp.Status, m.Message)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (p *Publisher) accept(ln net.Listener, id, cport string) {
	defer p.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.tunnel(conn, id, cport)
		}()
	}
}

// tunnel carries one local connection to the container's port.
func (p *Publisher) tunnel(conn net.Conn, id, cport string) {
	defer conn.Close()
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	target := p.up.Target(TunnelPath(id), "port="+url.QueryEscape(cport)).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, io.NopCloser(connReader{conn}))
	if err != nil {
		return
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.up.RoundTrip(req)
	if err != nil {
		p.log.Warn("ports: tunnel", "container", id, "port", cport, "err", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		p.log.Warn("ports: tunnel refused", "container", id, "port", cport, "status", resp.StatusCode, "body", strings.TrimSpace(string(b)))
		return
	}
	_, _ = io.Copy(conn, resp.Body)
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// connReader turns any read error into EOF: the local side is done sending either way.
type connReader struct{ c net.Conn }

func (r connReader) Read(b []byte) (int, error) {
	n, err := r.c.Read(b)
	if err != nil {
		err = io.EOF
	}
	return n, err
}

// watch closes id's listeners when the container dies or is destroyed.
func (p *Publisher) watch(id string, pub *publication) {
	defer p.wg.Done()
	defer p.unpublish(id, pub)
	if p.watchEvents(id) {
		return
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(pollInterval):
		}
		in, code, err := p.inspect(p.ctx, id)
		if code == http.StatusNotFound || (err == nil && !in.State.Running) {
			return
		}
	}
}

// watchEvents follows /events for id and reports true when the container stopped, false when the stream failed.
func (p *Publisher) watchEvents(id string) bool {
	filters, _ := json.Marshal(map[string][]string{"container": {id}, "type": {"container"}})
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet,
		p.up.Target("/events", "filters="+url.QueryEscape(string(filters))).String(), nil)
	if err != nil {
		return false
	}
	resp, err := p.up.RoundTrip(req)
	if err != nil {
		return errors.Is(err, context.Canceled)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev struct {
			Action string
			Actor  struct{ ID string }
			ID     string `json:"id"`
		}
		if err := dec.Decode(&ev); err != nil {
			return p.ctx.Err() != nil
		}
		if ev.Actor.ID != id && ev.ID != id {
			continue
		}
		switch ev.Action {
		case "die", "destroy", "stop":
			return true
		}
	}
}

// unpublish closes id's listeners: those of pub only (a watcher ending), or whatever is open (pub nil).
func (p *Publisher) unpublish(id string, pub *publication) {
	p.mu.Lock()
	cur := p.active[id]
	if cur == nil || (pub != nil && cur != pub) {
		p.mu.Unlock()
		return
	}
	delete(p.active, id)
	p.mu.Unlock()
	for _, ln := range cur.lns {
		ln.Close()
		p.log.Info("ports: closed", "container", id, "addr", ln.Addr().String())
	}
}

// Published returns the local addresses open for id (for status and tests).
func (p *Publisher) Published(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	if pub := p.active[id]; pub != nil {
		for _, ln := range pub.lns {
			out = append(out, ln.Addr().String())
		}
	}
	return out
}

// Close closes every listener and tunnel and waits for their goroutines. Idempotent.
func (p *Publisher) Close() {
	p.mu.Lock() // every wg.Add happens under mu after checking p.ctx: none can follow the Wait below
	p.cancel()
	for id, pub := range p.active {
		for _, ln := range pub.lns {
			ln.Close()
		}
		delete(p.active, id)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
