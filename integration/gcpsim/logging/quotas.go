package logging

import (
	"maps"
	"slices"

	"github.com/runsock/runsock/integration/gcpsim/quota"
)

// Default quotas of Cloud Logging (https://cloud.google.com/logging/quotas, §5.3 of the fact sheet).
const (
	DefaultListsPerMinute = 60 // entries.list requests per minute per project
	DefaultTailSessions   = 10 // live-tail sessions open at once per project
)

const (
	loggingService   = "logging.googleapis.com"
	loggingQuotasURL = "https://cloud.google.com/logging/quotas"
)

// The quotas as Google would name them in an error. The values are documented; the metric and limit identifiers
// are not (no observed Logging quota error was found): they follow the pattern of other services' errors.
func listLimit(n int) quota.Limit {
	return quota.Limit{Service: loggingService, Metric: "logging.googleapis.com/read_requests", MetricName: "Read requests",
		LimitID: "ReadRequestsPerMinutePerProject", LimitName: "Read requests per minute",
		Value: int64(n), Reason: quota.ReasonRate, QuotasURL: loggingQuotasURL}
}

func tailLimit(n int) quota.Limit {
	return quota.Limit{Service: loggingService, Metric: "logging.googleapis.com/tail_sessions", MetricName: "Live tailing sessions",
		LimitID: "TailSessionsPerProject", LimitName: "Live tailing sessions per project",
		Value: int64(n), Reason: quota.ReasonResource, QuotasURL: loggingQuotasURL}
}

func (s *Service) consumer(project string) quota.Consumer {
	return quota.Consumer{ProjectID: project, ProjectNumber: s.numbers[project], Location: "global"}
}

// chargeList charges one entries.list request to each named project.
func (s *Service) chargeList(projects map[string]bool) error {
	for _, p := range slices.Sorted(maps.Keys(projects)) {
		if !s.lists.Take(p) {
			return s.lists.Limit.Error(s.consumer(p))
		}
	}
	return nil
}

// openTail counts a tail session against each named project (s.mu held), or refuses it when a project already has
// the most sessions open.
func (s *Service) openTail(t *tail) error {
	if s.maxTails > 0 {
		for _, p := range slices.Sorted(maps.Keys(t.projects)) {
			n := 0
			for o := range s.tails {
				if o.projects[p] {
					n++
				}
			}
			if n >= s.maxTails {
				return tailLimit(s.maxTails).Error(s.consumer(p))
			}
		}
	}
	s.tails[t] = struct{}{}
	return nil
}
