package containers

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// visible reports whether p may reach c by its full ID (see owners.go).
func visible(p identity.Principal, c *Container) bool { return p.Admin || c.Owner == p.Email }

func isFullID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// Resolve finds ref as Docker does: a full ID (one read), then a name (two reads), then a unique ID prefix (one
// query). Names and prefixes cover only p's own containers, admins' included; an admin reaches another user's
// container by its full ID alone. Any other owner's container is "No such container".
func (s *Service) Resolve(ctx context.Context, p identity.Principal, ref string) (*Container, error) {
	c, err := s.resolve(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	return s.withLiveHealth(c), nil
}

func (s *Service) resolve(ctx context.Context, p identity.Principal, ref string) (*Container, error) {
	if ref == "" {
		return nil, errorf(errdefs.ErrInvalidArgument, "container name or ID cannot be empty")
	}
	if isFullID(ref) {
		c, err := s.store.GetContainer(ctx, ref)
		if err == nil && visible(p, c) {
			return c, nil
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	name := strings.TrimPrefix(ref, "/")
	if id, err := s.store.ContainerIDByName(ctx, p.Email, name); err == nil {
		c, err := s.store.GetContainer(ctx, id)
		if err == nil {
			return c, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, err
		}
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	list, err := s.store.ListContainers(ctx, p.Email)
	if err != nil {
		return nil, err
	}
	var found *Container
	for _, c := range list {
		if strings.HasPrefix(c.ID, ref) {
			if found != nil {
				return nil, errorf(errdefs.ErrInvalidArgument, "multiple IDs found with provided prefix: %s", ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, noSuchContainer(ref)
	}
	return found, nil
}

// ListOptions are GET /containers/json's parameters.
type ListOptions struct {
	All     bool
	Limit   int
	Filters map[string][]string
}

// List returns p's containers (an admin's: everyone's), newest first, filtered as Docker does plus the owner filter
// (one query).
func (s *Service) List(ctx context.Context, p identity.Principal, opts ListOptions) ([]*Container, error) {
	for k := range opts.Filters {
		if !listFilterKeys[k] {
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	for _, st := range opts.Filters["status"] {
		if err := container.ValidateContainerState(container.ContainerState(st)); err != nil {
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter 'status=%s'", st)
		}
	}
	for _, h := range opts.Filters["health"] {
		if container.ValidateHealthStatus(container.HealthStatus(h)) != nil {
			return nil, errorf(errdefs.ErrInvalidArgument, "Unrecognised filter value for health: %s", h) // Docker's words
		}
	}
	exited := map[int]bool{}
	for _, e := range opts.Filters["exited"] {
		n, err := strconv.Atoi(e)
		if err != nil {
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter 'exited=%s'", e)
		}
		exited[n] = true
	}
	var nameRes []*regexp.Regexp
	for _, n := range opts.Filters["name"] {
		re, err := regexp.Compile(n)
		if err != nil {
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter 'name=%s': %v", n, err)
		}
		nameRes = append(nameRes, re)
	}
	scope, err := ScopeFor(p, opts.Filters[OwnerFilter], true)
	if err != nil {
		return nil, err
	}
	all, err := s.store.ListContainers(ctx, scope.Owner)
	if err != nil {
		return nil, err
	}
	for i, c := range all {
		all[i] = s.withLiveHealth(c)
	}
	before, err := createdOf(p, all, opts.Filters["before"])
	if err != nil {
		return nil, err
	}
	since, err := createdOf(p, all, opts.Filters["since"])
	if err != nil {
		return nil, err
	}
	// Docker: status, exited, before, since and limit imply all.
	showAll := opts.All || len(opts.Filters["status"]) > 0 || len(exited) > 0 || opts.Limit > 0 || !before.IsZero() || !since.IsZero()
	var out []*Container
	for _, c := range all {
		switch {
		case !scope.Covers(c.Owner):
		case !showAll && !c.Active():
		case !before.IsZero() && !c.Created.Before(before):
		case !since.IsZero() && !c.Created.After(since):
		case !matchAny(opts.Filters["id"], func(v string) bool { return strings.HasPrefix(c.ID, v) }):
		case len(nameRes) > 0 && !matchAny(nameRes, func(re *regexp.Regexp) bool { return re.MatchString("/" + c.Name) }):
		case !matchAny(opts.Filters["status"], func(v string) bool { return v == string(c.DockerStatus()) }):
		case len(exited) > 0 && (c.State.Status != container.StateExited || !exited[c.State.ExitCode]):
		case !matchLabels(c.Config.Labels, opts.Filters["label"]):
		case !matchAny(opts.Filters["ancestor"], func(v string) bool { return ancestorMatches(c, v) }):
		case !matchAny(opts.Filters["network"], func(v string) bool { return onNetwork(c, v) }):
		case !matchAny(opts.Filters["health"], func(v string) bool { return v == string(c.HealthStatus()) }):
		default:
			out = append(out, c)
		}
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
	}
	return out, nil
}

var listFilterKeys = map[string]bool{"ancestor": true, "before": true, "expose": true, "exited": true, "health": true,
	"id": true, "isolation": true, "is-task": true, "label": true, "name": true, "network": true, OwnerFilter: true,
	"publish": true, "since": true, "status": true, "volume": true}

// createdOf is when the container refs[0] names was created: by full ID any container listed, by name or ID prefix
// only p's own (as Resolve).
func createdOf(p identity.Principal, all []*Container, refs []string) (time.Time, error) {
	if len(refs) == 0 {
		return time.Time{}, nil
	}
	ref := strings.TrimPrefix(refs[0], "/")
	for _, c := range all {
		if c.ID == ref || c.Owner == p.Email && (c.Name == ref || strings.HasPrefix(c.ID, ref)) {
			return c.Created, nil
		}
	}
	return time.Time{}, noSuchContainer(refs[0])
}

func matchAny[T any](vals []T, f func(T) bool) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if f(v) {
			return true
		}
	}
	return false
}

// matchLabels: every filter ("key" or "key=value", "key!=value") must hold.
func matchLabels(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		if k, v, ok := strings.Cut(f, "!="); ok {
			if got, has := labels[k]; has && got == v {
				return false
			}
			continue
		}
		k, v, hasValue := strings.Cut(f, "=")
		got, has := labels[k]
		if !has || (hasValue && got != v) {
			return false
		}
	}
	return true
}

func ancestorMatches(c *Container, v string) bool {
	if v == c.Image || v == c.ImageID || strings.TrimPrefix(c.ImageID, "sha256:") == v {
		return true
	}
	if !strings.Contains(v, ":") && !strings.Contains(v, "@") && (c.Image == v+":latest" || strings.HasPrefix(c.Image, v+"@")) {
		return true
	}
	return strings.HasPrefix(c.ImageID, "sha256:"+v) && len(v) >= 12
}

type pruneFilter struct {
	until  time.Time
	labels []string
	owners []string
}

func parsePruneFilters(f map[string][]string, now time.Time) (pruneFilter, error) {
	var pf pruneFilter
	for k, vs := range f {
		switch k {
		case OwnerFilter:
			pf.owners = vs
		case "label":
			pf.labels = vs
		case "until":
			if len(vs) == 0 {
				continue
			}
			t, err := parseTimestamp(vs[0], now)
			if err != nil {
				return pf, errorf(errdefs.ErrInvalidArgument, "invalid filter 'until=%s'", vs[0])
			}
			pf.until = t
		default:
			return pf, errorf(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	return pf, nil
}

func (f pruneFilter) match(c *Container) bool {
	return (f.until.IsZero() || c.Created.Before(f.until)) && matchLabels(c.Config.Labels, f.labels)
}

// parseTimestamp accepts Docker's forms: a duration before now ("10m"), Unix seconds ("1700000000.5") or RFC 3339.
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	// "SECONDS[.NANOSECONDS]", as the CLI sends --since/--until: two integers, as Docker reads them (a float64
	// cannot hold today's seconds with nanoseconds: a bound would move by a few hundred nanoseconds and miss the
	// entry it names).
	if secs, frac, hasFrac := strings.Cut(v, "."); secs != "" {
		sec, err := strconv.ParseInt(secs, 10, 64)
		if errors.Is(err, strconv.ErrRange) { // a number of seconds past any date: the caller says it is out of range
			sec, err = 1<<40, nil
			if strings.HasPrefix(secs, "-") {
				sec = -sec
			}
		}
		if err == nil {
			var nsec int64
			if hasFrac {
				n, err := strconv.ParseUint(frac, 10, 64)
				if err != nil || len(frac) == 0 || len(frac) > 9 {
					return time.Time{}, errorf(errdefs.ErrInvalidArgument, "invalid timestamp %q", v)
				}
				nsec = int64(n)
				for range 9 - len(frac) {
					nsec *= 10
				}
			}
			return time.Unix(sec, nsec), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errorf(errdefs.ErrInvalidArgument, "invalid timestamp %q", v)
}

// ParseTimestamp is Docker's since/until parser, exported for the HTTP layer.
func ParseTimestamp(v string, now time.Time) (time.Time, error) { return parseTimestamp(v, now) }

// ImageUsage tells the images service which containers use an image, from the container records alone: it exists
// before the Service (which needs the images service to resolve images at create).
type ImageUsage struct {
	Store interface {
		ListContainers(ctx context.Context, owner string) ([]*Container, error)
	}
}

// ImageUsedBy returns the ID of one of owner's containers created from imageID ("" if none), so the images
// service can refuse to delete an image in use.
func (u ImageUsage) ImageUsedBy(ctx context.Context, owner, imageID string) (string, error) {
	list, err := u.Store.ListContainers(ctx, owner)
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.ImageID == imageID {
			return c.ID, nil
		}
	}
	return "", nil
}

// onNetwork reports whether c has an endpoint on the network named (or whose ID is) v.
func onNetwork(c *Container, v string) bool {
	if len(c.Networks) == 0 {
		return v == string(c.HostConfig.NetworkMode)
	}
	for name, ep := range c.Networks {
		if name == v || (v != "" && strings.HasPrefix(ep.NetworkID, v)) {
			return true
		}
	}
	return false
}
