package cloudrun

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// location is projects/{project}/locations/{location}, project as an ID.
type location struct{ project, region string }

func (l location) String() string { return "projects/" + l.project + "/locations/" + l.region }

func (s *Service) parseLocation(parts []string) (location, error) {
	if len(parts) < 4 || parts[0] != "projects" || parts[2] != "locations" || parts[1] == "" || parts[3] == "" {
		return location{}, status.Errorf(codes.InvalidArgument, "invalid resource name %q", strings.Join(parts, "/"))
	}
	p := parts[1]
	if p == s.cfg.ProjectNumber {
		p = s.cfg.Project
	}
	if p != s.cfg.Project {
		return location{}, status.Errorf(codes.PermissionDenied, "Permission denied on resource project %s.", parts[1])
	}
	return location{project: p, region: parts[3]}, nil
}

// parseName splits a resource name into its location and the IDs after it,
// e.g. jobs/{job}/executions/{execution} gives ids [job execution].
func (s *Service) parseName(name string, collections ...string) (location, []string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4+2*len(collections) {
		return location{}, nil, status.Errorf(codes.InvalidArgument, "invalid resource name %q", name)
	}
	loc, err := s.parseLocation(parts)
	if err != nil {
		return location{}, nil, err
	}
	var ids []string
	for i, c := range collections {
		if parts[4+2*i] != c || parts[5+2*i] == "" {
			return location{}, nil, status.Errorf(codes.InvalidArgument, "invalid resource name %q", name)
		}
		ids = append(ids, parts[5+2*i])
	}
	return loc, ids, nil
}

func jobName(l location, job string) string { return l.String() + "/jobs/" + job }
func executionName(l location, job, exec string) string {
	return jobName(l, job) + "/executions/" + exec
}
func taskName(l location, job, exec, task string) string {
	return executionName(l, job, exec) + "/tasks/" + task
}

func notFound(kind, id string, l location) error {
	return status.Errorf(codes.NotFound, "Resource '%s' of kind '%s' in region '%s' in project '%s' does not exist.", id, kind, l.region, l.project)
}

// Job IDs as gcloud checks them: lowercase letters, digits and dashes, not
// starting or ending with a dash, at most 63 characters.
var jobIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func taskID(exec string, index int) string { return fmt.Sprintf("%s-task%d", exec, index) }
