package images

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// RecordCommit records img, a container committed and pushed to the team's registry at reference (a digest
// reference), for owner under repoTag ("name:tag" as docker commit names it; "" leaves it untagged, as Docker does),
// moving that tag from any other image of owner's. It returns the image ID. A committed image has no repo digest
// until it is pushed under its name, as with Docker.
func (s *Service) RecordCommit(ctx context.Context, owner, repoTag string, img v1.Image, reference string) (string, error) {
	rec, _, err := describe(img)
	if err != nil {
		return "", fmt.Errorf("describe the committed image: %w", err)
	}
	rec.Reference, rec.RepoDigests = reference, nil
	var r ref
	if repoTag != "" {
		if r, err = parseRef(repoTag, s.cfg.DockerHubRemote, true); err != nil {
			return "", err
		}
	}
	if _, err := s.record(ctx, owner, r, rec); err != nil {
		return "", err
	}
	return rec.ID, nil
}
