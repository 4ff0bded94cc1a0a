package networks

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Peer is a container another reaches, as its agent needs it: at Addr its Names resolve and its Ports are relayed.
// Self is the container's own entry (its names, on its own addresses).
type Peer struct {
	Ref   string
	Addr  string
	Names []string
	Ports []int
	Self  bool
}

// Pusher hands a container's agent its peers (agentlink.Hub through main's adapter). A container whose agent is not
// linked is not an error.
type Pusher interface {
	SendPeers(containerID string, peers []Peer) error
}

// Overlay keeps every linked agent's peers current. What it holds is in memory and rebuilt from the agents (their
// ports, sent after every link) and Firestore (the containers): a new control-plane instance learns it all again
// as the agents redial.
type Overlay struct {
	records ContainerStore
	push    Pusher
	log     *slog.Logger

	wake chan struct{}

	mu      sync.Mutex
	ports   map[string][]int           // container → its listening ports
	owners  map[string]string          // container → owner, for the containers that reported ports or linked
	linked  map[string]bool            // containers whose agent is linked
	sent    map[string]string          // container → the peers last pushed (as a key), to push only changes
	allowed map[string]map[string]bool // container → the peers it may reach
	dirty   map[string]bool            // owners to recompute; "" = every owner with a linked container
}

// NewOverlay returns an Overlay; Run makes it work.
func NewOverlay(records ContainerStore, push Pusher, log *slog.Logger) *Overlay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Overlay{records: records, push: push, log: log, wake: make(chan struct{}, 1),
		ports: map[string][]int{}, owners: map[string]string{}, linked: map[string]bool{}, sent: map[string]string{},
		allowed: map[string]map[string]bool{}, dirty: map[string]bool{}}
}

// Changed marks owner's peers for recomputation (a membership change, a start or an exit).
func (o *Overlay) Changed(owner string) {
	o.mu.Lock()
	o.dirty[owner] = true
	o.mu.Unlock()
	o.kick()
}

func (o *Overlay) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Linked: id's agent linked; it gets its peers whole, even if unchanged.
func (o *Overlay) Linked(id string) {
	o.mu.Lock()
	o.linked[id] = true
	delete(o.sent, id)
	o.markContainer(id)
	o.mu.Unlock()
	o.kick()
}

// Unlinked: id's agent link ended; its ports are forgotten (its agent reports them again when it redials).
func (o *Overlay) Unlinked(id string) {
	o.mu.Lock()
	delete(o.linked, id)
	delete(o.ports, id)
	delete(o.sent, id)
	o.markContainer(id)
	o.mu.Unlock()
	o.kick()
}

// Ports records id's listening ports; its peers learn them.
func (o *Overlay) Ports(id string, ports []int) {
	o.mu.Lock()
	o.ports[id] = slices.Clone(ports)
	o.markContainer(id)
	o.mu.Unlock()
	o.kick()
}

// markContainer marks the owner of id dirty, or every owner when id's owner is not known yet. o.mu is held.
func (o *Overlay) markContainer(id string) {
	if owner, ok := o.owners[id]; ok {
		o.dirty[owner] = true
		return
	}
	o.dirty[""] = true
}

// Allowed reports whether from may open connections to to: to is among from's peers as last computed.
func (o *Overlay) Allowed(from, to string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return from != to && o.allowed[from][to]
}

// Run recomputes dirty owners' peers until ctx ends or events closes; events are the containers' lifecycle events
// (starts, exits and removals change who is reachable). Call it again with a new subscription after it returns:
// everything is recomputed then, as events may have been missed.
func (o *Overlay) Run(ctx context.Context, events <-chan containers.Event) {
	o.Changed("")
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Type == "container" && (e.Action == "start" || e.Action == "die" || e.Action == "destroy" || e.Action == "rename") {
				o.Changed(e.Owner)
			}
			continue
		case <-o.wake:
		}
		o.mu.Lock()
		dirty := o.dirty
		o.dirty = map[string]bool{}
		if dirty[""] {
			delete(dirty, "")
			for id := range o.linked {
				if owner, ok := o.owners[id]; ok {
					dirty[owner] = true
				}
			}
		}
		unknown := []string{}
		for id := range o.linked {
			if _, ok := o.owners[id]; !ok {
				unknown = append(unknown, id)
			}
		}
		o.mu.Unlock()
		for _, id := range unknown {
			c, err := o.records.GetContainer(ctx, id)
			if err != nil {
				continue
			}
			o.mu.Lock()
			o.owners[id] = c.Owner
			o.mu.Unlock()
			dirty[c.Owner] = true
		}
		for owner := range dirty {
			if err := o.recompute(ctx, owner); err != nil && ctx.Err() == nil {
				o.log.Warn("network peers", "owner", owner, "err", err)
				o.Changed(owner) // try again
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
	}
}

// recompute pushes to each of owner's linked containers its peers, where they changed.
func (o *Overlay) recompute(ctx context.Context, owner string) error {
	list, err := o.records.ListContainers(ctx, owner)
	if err != nil {
		return err
	}
	o.mu.Lock()
	for _, c := range list {
		o.owners[c.ID] = c.Owner
	}
	ports := make(map[string][]int, len(o.ports))
	for id, p := range o.ports {
		ports[id] = p
	}
	o.mu.Unlock()
	for _, c := range list {
		o.mu.Lock()
		linked := o.linked[c.ID]
		o.mu.Unlock()
		if !linked {
			continue
		}
		peers, allowed := PeersOf(c, list, ports)
		key := peersKey(peers)
		o.mu.Lock()
		o.allowed[c.ID] = allowed
		same := o.sent[c.ID] == key
		o.mu.Unlock()
		if same {
			continue
		}
		if err := o.push.SendPeers(c.ID, peers); err != nil {
			o.log.Warn("send peers", "container", c.ID, "err", err)
			continue
		}
		o.mu.Lock()
		o.sent[c.ID] = key
		o.mu.Unlock()
	}
	return nil
}

func peersKey(peers []Peer) string {
	var b strings.Builder
	for _, p := range peers {
		b.WriteString(p.Ref + "|" + p.Addr + "|" + strings.Join(p.Names, ",") + "|")
		for _, port := range p.Ports {
			b.WriteString(" " + strconv.Itoa(port))
		}
		if p.Self {
			b.WriteString("|self")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// PeersOf is what c reaches among all (its owner's containers): on each user-defined network it is on, every other
// running member, at that member's address there, by its name, its aliases there, its short ID and its hostname;
// and on the default bridge, the containers it links to (--link NAME:ALIAS), by alias and name. Its own entries
// come first. allowed is the set of peers' IDs. A stopped c reaches nobody.
func PeersOf(c *containers.Container, all []*containers.Container, ports map[string][]int) (peers []Peer, allowed map[string]bool) {
	allowed = map[string]bool{}
	if !c.Running() {
		return nil, allowed
	}
	byName := map[string]*containers.Container{}
	for _, o := range all {
		byName[o.Name] = o
	}
	nets := slices.Sorted(maps.Keys(c.Networks))
	for _, name := range nets {
		ep := c.Networks[name]
		if ep.IPAddress == "" || isBuiltin(name) {
			continue
		}
		peers = append(peers, Peer{Ref: c.ID, Addr: ep.IPAddress, Names: namesOf(c, ep), Self: true})
	}
	linkAliases := map[string][]string{} // target name → aliases c gave it
	for _, l := range c.HostConfig.Links {
		target, alias, _ := strings.Cut(l, ":")
		target = strings.TrimPrefix(target, "/")
		if i := strings.LastIndex(alias, "/"); i >= 0 {
			alias = alias[i+1:]
		}
		if alias == "" {
			alias = target
		}
		linkAliases[target] = append(linkAliases[target], alias)
	}
	for _, name := range nets {
		ep := c.Networks[name]
		for _, o := range all {
			oep := o.Networks[name]
			if o.ID == c.ID || !o.Running() || oep == nil || oep.NetworkID != ep.NetworkID || oep.IPAddress == "" {
				continue
			}
			var names []string
			if name == network.NetworkBridge {
				// The default bridge resolves no names: only c's links reach a container there.
				aliases, linked := linkAliases[o.Name]
				if !linked {
					continue
				}
				names = append(slices.Clone(aliases), o.Name, o.ID[:12])
			} else {
				names = namesOf(o, oep)
				for _, l := range ep.Links {
					target, alias, _ := strings.Cut(l, ":")
					if strings.TrimPrefix(target, "/") == o.Name && alias != "" {
						names = append(names, alias)
					}
				}
			}
			peers = append(peers, Peer{Ref: o.ID, Addr: oep.IPAddress, Names: dedup(names), Ports: ports[o.ID]})
			allowed[o.ID] = true
		}
	}
	return peers, allowed
}

// namesOf are the names c has on a network: its name, its aliases there, its short ID and its hostname.
func namesOf(c *containers.Container, ep *containers.Endpoint) []string {
	names := append([]string{c.Name}, ep.Aliases...)
	names = append(names, c.ID[:12])
	if h := c.Config.Hostname; h != "" {
		names = append(names, h)
	}
	return dedup(names)
}

func dedup(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
