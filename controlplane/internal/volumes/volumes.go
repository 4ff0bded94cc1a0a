package volumes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// Driver is the only volume driver: Docker's name for it, since every volume is the same kind.
const Driver = "local"

// LabelAnonymous marks an anonymous volume, as Docker marks it (API v1.50: prune without all=true removes only these).
const LabelAnonymous = "com.docker.volume.anonymous"

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Volume is one volume's record.
type Volume struct {
	Name      string            `json:"name"`
	Owner     string            `json:"owner"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

// Anonymous reports whether Docker created the volume for one container (-v /path, an image's VOLUME).
func (v *Volume) Anonymous() bool { _, ok := v.Labels[LabelAnonymous]; return ok }

// Prefix is where the volume's files live in the bucket, with a trailing slash.
func Prefix(owner, name string) string { return "v1/" + OwnerKey(owner) + "/" + name + "/" }

// OwnerKey is the owner's part of the bucket: 32 hex digits of SHA-256 of the email.
func OwnerKey(owner string) string {
	h := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(h[:16])
}

// Users is the containers side of volumes (the containers package implements it): which containers mount a
// volume, and the event stream volume events join.
type Users interface {
	// VolumeUsers returns the IDs of owner's containers, in any state, that mount the volume name.
	VolumeUsers(ctx context.Context, owner, name string) ([]string, error)
	// PublishVolume records and publishes Docker's volume event (create, destroy) of owner's volume name.
	PublishVolume(ctx context.Context, owner, action, name string, attrs map[string]string)
}

// Objects is the bucket as this package uses it (bucket.go implements it on the JSON API).
type Objects interface {
	// DeletePrefix deletes every object whose name starts with prefix and returns the bytes freed.
	DeletePrefix(ctx context.Context, prefix string) (int64, error)
	// Usage returns the bytes stored under prefix.
	Usage(ctx context.Context, prefix string) (int64, error)
	// List returns the objects under prefix in name order, at most max of them (0: all).
	List(ctx context.Context, prefix string, max int) ([]Object, error)
	// Put stores the size bytes of body as object name and returns its generation.
	Put(ctx context.Context, name string, body io.Reader, size int64) (int64, error)
	// PutSymlink stores object name as a Cloud Storage FUSE symlink to target.
	PutSymlink(ctx context.Context, name, target string) (int64, error)
	// Open opens object name's contents (not found: errdefs.ErrNotFound).
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// Config configures a Service.
type Config struct {
	// Bucket is the volumes bucket's name, shown in Mountpoint ("" = volumes are off: every call says so).
	Bucket  string
	Objects Objects
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service manages volumes.
type Service struct {
	fs    *firestore.Client
	cfg   Config
	users Users
	log   *slog.Logger
}

// New returns a Service keeping records in fs. SetUsers must be called before Remove and Prune.
func New(fs *firestore.Client, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{fs: fs, cfg: cfg, log: log}
}

// SetUsers wires the containers that use volumes (containers and volumes each need the other).
func (s *Service) SetUsers(u Users) { s.users = u }

// Bucket is the volumes bucket ("" when volumes are off).
func (s *Service) Bucket() string { return s.cfg.Bucket }

// Mountpoint is what inspect shows as the volume's place: its prefix in the bucket.
func (s *Service) Mountpoint(v *Volume) string {
	return "gs://" + s.cfg.Bucket + "/" + Prefix(v.Owner, v.Name)
}

func errorf(kind error, format string, args ...any) error {
	return &errkind.Error{Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// checkName applies Docker's rules for local volume names, with its messages.
func checkName(name string) error {
	if len(name) == 1 {
		return errorf(errdefs.ErrInvalidArgument, "create %s: volume name is too short, names should be at least two alphanumeric characters", name)
	}
	if !validName.MatchString(name) {
		return errorf(errdefs.ErrInvalidArgument, "create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name)
	}
	return nil
}

func noSuchVolume(name string) error {
	return errorf(errdefs.ErrNotFound, "get %s: no such volume", name)
}

func (s *Service) enabled() error {
	if s.cfg.Bucket == "" || s.cfg.Objects == nil {
		return errorf(errdefs.ErrNotImplemented, "volumes are not configured on this control plane (no volumes bucket: set RUNSOCK_VOLUMES_BUCKET)")
	}
	return nil
}

// CreateRequest is POST /volumes/create, decoded.
type CreateRequest struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
}

// Create makes owner's volume. As Docker: no name gives a random 64-hex one; a name already held returns that
// volume unchanged; another driver than local is "plugin not found"; driver options are refused (none apply).
func (s *Service) Create(ctx context.Context, owner string, req CreateRequest) (*Volume, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = randomName()
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if req.Driver != "" && req.Driver != Driver {
		return nil, errorf(errdefs.ErrNotFound, "create %s: error looking up volume plugin %s: plugin %q not found", name, req.Driver, req.Driver)
	}
	if len(req.DriverOpts) > 0 {
		keys := make([]string, 0, len(req.DriverOpts))
		for k := range req.DriverOpts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, errorf(errdefs.ErrInvalidArgument, "create %s: runsock volumes are Cloud Storage prefixes and take no driver options (got %s)", name, strings.Join(keys, ", "))
	}
	v := &Volume{Name: name, Owner: owner, Labels: req.Labels, CreatedAt: s.cfg.Now().UTC().Truncate(time.Second)}
	return s.create(ctx, v)
}

// Ensure returns owner's volume name, creating it as Docker does when a container first names it; anonymous
// creates a new anonymous volume (name "" = a random one). It returns the volume's bucket prefix.
func (s *Service) Ensure(ctx context.Context, owner, name string, anonymous bool) (string, string, error) {
	if err := s.enabled(); err != nil {
		return "", "", err
	}
	if name == "" {
		name = randomName()
	}
	if err := checkName(name); err != nil {
		return "", "", err
	}
	v := &Volume{Name: name, Owner: owner, CreatedAt: s.cfg.Now().UTC().Truncate(time.Second)}
	if anonymous {
		v.Labels = map[string]string{LabelAnonymous: ""}
	}
	got, err := s.create(ctx, v)
	if err != nil {
		return "", "", err
	}
	return got.Name, Prefix(owner, got.Name), nil
}

// Get returns owner's volume.
func (s *Service) Get(ctx context.Context, owner, name string) (*Volume, error) {
	v, err := s.get(ctx, owner, name)
	if errdefs.IsNotFound(err) {
		return nil, noSuchVolume(name)
	}
	return v, err
}

// Remove deletes owner's volume and its files: 409 while a container uses it (force does not override that,
// as in Docker), 404 when there is none (force: no error).
func (s *Service) Remove(ctx context.Context, owner, name string, force bool) error {
	if _, err := s.get(ctx, owner, name); err != nil {
		if errdefs.IsNotFound(err) {
			if force {
				return nil
			}
			return noSuchVolume(name)
		}
		return err
	}
	if err := s.notInUse(ctx, owner, name); err != nil {
		return err
	}
	_, err := s.remove(ctx, owner, name)
	return err
}

func (s *Service) notInUse(ctx context.Context, owner, name string) error {
	if s.users == nil {
		return errorf(errdefs.ErrUnavailable, "remove %s: volume users are not wired", name)
	}
	ids, err := s.users.VolumeUsers(ctx, owner, name)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if len(ids) > 0 {
		return errorf(errdefs.ErrConflict, "remove %s: volume is in use - [%s]", name, strings.Join(ids, ", "))
	}
	return nil
}

// remove deletes the files, then the record: a failure in between leaves a record whose rm can be retried.
func (s *Service) remove(ctx context.Context, owner, name string) (int64, error) {
	if err := s.enabled(); err != nil {
		return 0, err
	}
	n, err := s.cfg.Objects.DeletePrefix(ctx, Prefix(owner, name))
	if err != nil {
		return 0, fmt.Errorf("remove %s: deleting its files: %w", name, err)
	}
	if err := s.deleteRecord(ctx, owner, name); err != nil {
		if errdefs.IsNotFound(err) {
			return n, nil // removed meanwhile by another call, which announced it
		}
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	if s.users != nil {
		s.users.PublishVolume(ctx, owner, "destroy", name, map[string]string{"driver": Driver})
	}
	return n, nil
}

// RemoveAnonymous removes the named volumes of owner that are anonymous and no longer used (rm -v, run --rm);
// named volumes are kept, as Docker keeps them.
func (s *Service) RemoveAnonymous(ctx context.Context, owner string, names []string) error {
	var errs []string
	for _, name := range names {
		v, err := s.get(ctx, owner, name)
		if err != nil || !v.Anonymous() {
			continue
		}
		if err := s.notInUse(ctx, owner, name); err != nil {
			continue // still mounted by another container (--volumes-from): kept, as Docker keeps it
		}
		if _, err := s.remove(ctx, owner, name); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("anonymous volumes: %s", strings.Join(errs, "; "))
	}
	return nil
}

// List returns owner's volumes matching Docker's filters: name (substring), label (key or key=value), dangling
// (true/false: not used by any container), driver.
func (s *Service) List(ctx context.Context, owner string, filters map[string][]string) ([]*Volume, error) {
	for k := range filters {
		switch k {
		case "name", "label", "dangling", "driver":
		default:
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	all, err := s.list(ctx, owner)
	if err != nil {
		return nil, err
	}
	var dangling *bool
	for _, d := range filters["dangling"] {
		b := d == "true" || d == "1"
		if !b && d != "false" && d != "0" {
			return nil, errorf(errdefs.ErrInvalidArgument, "invalid filter 'dangling=%s'", d)
		}
		dangling = &b
	}
	var out []*Volume
	for _, v := range all {
		if !matchAny(filters["name"], func(f string) bool { return strings.Contains(v.Name, f) }) ||
			!matchAny(filters["driver"], func(f string) bool { return f == Driver }) ||
			!matchLabels(v.Labels, filters["label"]) {
			continue
		}
		if dangling != nil {
			ids, err := s.usersOf(ctx, owner, v.Name)
			if err != nil {
				return nil, err
			}
			if (len(ids) == 0) != *dangling {
				continue
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) usersOf(ctx context.Context, owner, name string) ([]string, error) {
	if s.users == nil {
		return nil, errorf(errdefs.ErrUnavailable, "volume users are not wired")
	}
	return s.users.VolumeUsers(ctx, owner, name)
}

func matchAny(filters []string, f func(string) bool) bool {
	if len(filters) == 0 {
		return true
	}
	for _, v := range filters {
		if f(v) {
			return true
		}
	}
	return false
}

// matchLabels: every filter must hold (Docker's rule for label filters).
func matchLabels(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		k, v, hasV := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

// Prune removes owner's unused volumes: only anonymous ones unless filters has all=true (API ≥ 1.42), narrowed by
// label filters (label, label!). It returns the names removed and the bytes freed.
func (s *Service) Prune(ctx context.Context, owner string, filters map[string][]string) ([]string, uint64, error) {
	all := false
	for k, vs := range filters {
		switch k {
		case "all":
			for _, v := range vs {
				all = all || v == "true" || v == "1"
			}
		case "label", "label!":
		default:
			return nil, 0, errorf(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	vols, err := s.list(ctx, owner)
	if err != nil {
		return nil, 0, err
	}
	deleted, freed := []string{}, uint64(0)
	for _, v := range vols {
		if (!all && !v.Anonymous()) || !matchLabels(v.Labels, filters["label"]) {
			continue
		}
		if len(filters["label!"]) > 0 && matchAnyLabel(v.Labels, filters["label!"]) {
			continue
		}
		ids, err := s.usersOf(ctx, owner, v.Name)
		if err != nil {
			return deleted, freed, err
		}
		if len(ids) > 0 {
			continue
		}
		n, err := s.remove(ctx, owner, v.Name)
		if err != nil {
			return deleted, freed, err
		}
		deleted, freed = append(deleted, v.Name), freed+uint64(n)
	}
	return deleted, freed, nil
}

func matchAnyLabel(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		if matchLabels(labels, []string{f}) {
			return true
		}
	}
	return false
}

// Usage returns the bytes stored in the volume (docker system df -v).
func (s *Service) Usage(ctx context.Context, v *Volume) (int64, error) {
	if err := s.enabled(); err != nil {
		return 0, err
	}
	return s.cfg.Objects.Usage(ctx, Prefix(v.Owner, v.Name))
}
