package logging

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

var _ loggingpb.LoggingServiceV2Server = (*Service)(nil)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// WriteLogEntries validates the entries, applies the request's defaults and ingests them.
func (s *Service) WriteLogEntries(_ context.Context, req *loggingpb.WriteLogEntriesRequest) (*loggingpb.WriteLogEntriesResponse, error) {
	if len(req.GetEntries()) == 0 {
		return nil, invalid("entries must not be empty")
	}
	entries := make([]*loggingpb.LogEntry, 0, len(req.GetEntries()))
	for i, in := range req.GetEntries() {
		e := proto.Clone(in).(*loggingpb.LogEntry)
		if e.LogName == "" {
			e.LogName = req.GetLogName()
		}
		if e.Resource == nil {
			e.Resource = req.GetResource()
		}
		if len(req.GetLabels()) > 0 {
			labels := maps.Clone(req.GetLabels())
			maps.Copy(labels, e.Labels)
			e.Labels = labels
		}
		if err := validateEntry(e); err != nil {
			return nil, invalid("entries[%d]: %v", i, err)
		}
		entries = append(entries, e)
	}
	if !req.GetDryRun() {
		s.Ingest(entries...)
	}
	return &loggingpb.WriteLogEntriesResponse{}, nil
}

func validateEntry(e *loggingpb.LogEntry) error {
	rest, ok := strings.CutPrefix(e.GetLogName(), "projects/")
	project, id, _ := strings.Cut(rest, "/logs/")
	if !ok || project == "" || id == "" || strings.Contains(project, "/") {
		return fmt.Errorf("log_name %q must be projects/PROJECT/logs/LOG_ID (LOG_ID URL-encoded)", e.GetLogName())
	}
	if e.GetResource().GetType() == "" {
		return fmt.Errorf("resource.type is required")
	}
	return nil
}

// pageToken is the position after the last entry of a page.
type pageToken struct {
	T  int64  `json:"t"`
	ID string `json:"i"`
}

func encodeToken(k entryKey) string {
	b, _ := json.Marshal(pageToken{T: k.t.UnixNano(), ID: k.id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (entryKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var tok pageToken
	if err == nil {
		err = json.Unmarshal(b, &tok)
	}
	if err != nil {
		return entryKey{}, invalid("invalid page_token")
	}
	return entryKey{t: time.Unix(0, tok.T), id: tok.ID}, nil
}

// ListLogEntries lists visible entries of the named projects that match the filter, by timestamp then insertId.
func (s *Service) ListLogEntries(_ context.Context, req *loggingpb.ListLogEntriesRequest) (*loggingpb.ListLogEntriesResponse, error) {
	projects, err := projectsOf(req.GetResourceNames())
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := s.chargeList(projects); err != nil {
		return nil, err
	}
	filter, err := ParseFilter(req.GetFilter())
	if err != nil {
		return nil, invalid("%v", err)
	}
	desc, err := parseOrderBy(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > maxPageSize:
		return nil, invalid("page_size must be between 0 and %d, got %d", maxPageSize, size)
	case size == 0:
		size = defaultPageSize
	}
	var after *entryKey
	if req.GetPageToken() != "" {
		k, err := decodeToken(req.GetPageToken())
		if err != nil {
			return nil, err
		}
		after = &k
	}

	var matched []*loggingpb.LogEntry
	for _, e := range s.snapshot() {
		if !projects[projectOfLog(e.GetLogName())] || !filter.Match(e) {
			continue
		}
		if after != nil {
			c := keyOf(e).compare(*after)
			if (!desc && c <= 0) || (desc && c >= 0) {
				continue
			}
		}
		matched = append(matched, e)
	}
	slices.SortStableFunc(matched, func(a, b *loggingpb.LogEntry) int {
		c := keyOf(a).compare(keyOf(b))
		if desc {
			return -c
		}
		return c
	})
	resp := &loggingpb.ListLogEntriesResponse{}
	if len(matched) > size {
		matched = matched[:size]
		resp.NextPageToken = encodeToken(keyOf(matched[size-1]))
	}
	resp.Entries = matched
	return resp, nil
}

func parseOrderBy(s string) (desc bool, err error) {
	switch strings.Join(strings.Fields(strings.ToLower(s)), " ") {
	case "", "timestamp", "timestamp asc":
		return false, nil
	case "timestamp desc":
		return true, nil
	}
	return false, invalid("order_by must be \"timestamp asc\" or \"timestamp desc\", got %q", s)
}

// ListLogs lists the log names that have visible entries in the named projects.
func (s *Service) ListLogs(_ context.Context, req *loggingpb.ListLogsRequest) (*loggingpb.ListLogsResponse, error) {
	names := req.GetResourceNames()
	if len(names) == 0 && req.GetParent() != "" {
		names = []string{req.GetParent()}
	}
	projects, err := projectsOf(names)
	if err != nil {
		return nil, invalid("%v", err)
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > maxPageSize {
		size = maxPageSize
	}
	seen := map[string]bool{}
	for _, e := range s.snapshot() {
		if projects[projectOfLog(e.GetLogName())] {
			seen[e.GetLogName()] = true
		}
	}
	logs := slices.Sorted(maps.Keys(seen))
	if tok := req.GetPageToken(); tok != "" {
		i, _ := slices.BinarySearch(logs, tok)
		logs = logs[i:]
	}
	resp := &loggingpb.ListLogsResponse{}
	if len(logs) > size {
		resp.NextPageToken = logs[size]
		logs = logs[:size]
	}
	resp.LogNames = logs
	return resp, nil
}

// DeleteLog removes the visible entries of one log.
func (s *Service) DeleteLog(_ context.Context, req *loggingpb.DeleteLogRequest) (*emptypb.Empty, error) {
	name := req.GetLogName()
	if projectOfLog(name) == "" || !strings.Contains(name, "/logs/") {
		return nil, invalid("log_name %q must be projects/PROJECT/logs/LOG_ID", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.visible)
	s.visible = slices.DeleteFunc(slices.Clone(s.visible), func(e *loggingpb.LogEntry) bool { return e.GetLogName() == name })
	if len(s.visible) == n {
		return nil, status.Errorf(codes.NotFound, "log %q not found", name)
	}
	return &emptypb.Empty{}, nil
}
