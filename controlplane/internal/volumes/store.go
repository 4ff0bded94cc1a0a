package volumes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// collection holds one document per volume: volumes/{docID(owner, name)} = {owner, name, record fields}.
const collection = "volumes"

func docID(owner, name string) string {
	h := sha256.Sum256([]byte(owner + "\x00" + name))
	return hex.EncodeToString(h[:16])
}

type doc struct {
	Owner     string            `firestore:"owner"`
	Name      string            `firestore:"name"`
	Labels    map[string]string `firestore:"labels,omitempty"`
	Options   map[string]string `firestore:"options,omitempty"`
	CreatedAt time.Time         `firestore:"createdAt"`
}

func classify(err error, what string) error {
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.NotFound:
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	case codes.AlreadyExists:
		return fmt.Errorf("%s: %w", what, errdefs.ErrConflict)
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return fmt.Errorf("%s: state store unavailable: %w", what, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// create stores v unless owner already has a volume of that name, in which case it returns that one (Docker's
// create is idempotent by name).
func (s *Service) create(ctx context.Context, v *Volume) (*Volume, error) {
	ref := s.fs.Collection(collection).Doc(docID(v.Owner, v.Name))
	_, err := ref.Create(ctx, doc{Owner: v.Owner, Name: v.Name, Labels: v.Labels, Options: v.Options, CreatedAt: v.CreatedAt})
	if status.Code(err) == codes.AlreadyExists {
		got, err := s.get(ctx, v.Owner, v.Name)
		if err == nil && s.users != nil {
			// The reference engine (Docker 20.10) announces every create, of a volume that exists too: docker
			// volume create again, and each container create naming it (TestVolumeEvents).
			s.users.PublishVolume(ctx, v.Owner, "create", v.Name, map[string]string{"driver": Driver})
		}
		return got, err
	}
	if err != nil {
		return nil, classify(err, "create volume "+v.Name)
	}
	if s.users != nil {
		s.users.PublishVolume(ctx, v.Owner, "create", v.Name, map[string]string{"driver": Driver})
	}
	return v, nil
}

func fromSnap(snap *firestore.DocumentSnapshot) (*Volume, error) {
	var d doc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode volume %s: %w", snap.Ref.ID, err)
	}
	return &Volume{Name: d.Name, Owner: d.Owner, Labels: d.Labels, Options: d.Options, CreatedAt: d.CreatedAt.UTC()}, nil
}

func (s *Service) get(ctx context.Context, owner, name string) (*Volume, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("volume %q: %w", name, errdefs.ErrNotFound)
	}
	snap, err := s.fs.Collection(collection).Doc(docID(owner, name)).Get(ctx)
	if err != nil {
		return nil, classify(err, "volume "+name)
	}
	return fromSnap(snap)
}

// list is one query by owner, sorted by name as docker volume ls shows them.
func (s *Service) list(ctx context.Context, owner string) ([]*Volume, error) {
	snaps, err := s.fs.Collection(collection).Where("owner", "==", owner).Documents(ctx).GetAll()
	if err != nil {
		return nil, classify(err, "list volumes")
	}
	out := make([]*Volume, 0, len(snaps))
	for _, snap := range snaps {
		v, err := fromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Service) deleteRecord(ctx context.Context, owner, name string) error {
	_, err := s.fs.Collection(collection).Doc(docID(owner, name)).Delete(ctx, firestore.Exists)
	return classify(err, "volume "+name)
}

func randomName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
