package cloudrun

import (
	"strings"

	"github.com/runsock/runsock/integration/gcpsim/quota"
)

// Default per-minute rate quotas per project and region (see doc.go for their sources).
const (
	DefaultRunJobsPerMinute = 60
	DefaultWritesPerMinute  = 60
	DefaultReadsPerMinute   = 300
)

const (
	runService   = "run.googleapis.com"
	runQuotasURL = "https://cloud.google.com/run/quotas"
)

// The Admin API's quotas. The read quota's identifiers are confirmed by an observed error; the others follow its
// pattern (unconfirmed, see doc.go).
func runLimit(reason, metric, metricName, limitID, limitName string, n int) quota.Limit {
	return quota.Limit{Service: runService, Metric: "run.googleapis.com/" + metric, MetricName: metricName,
		LimitID: limitID, LimitName: limitName, Value: int64(n), Reason: reason, QuotasURL: runQuotasURL}
}

func runJobLimit(n int) quota.Limit {
	return runLimit(quota.ReasonRate, "job_run_requests_regional", "Job run requests",
		"JobRunRequestsPerMinutePerProjectRegion", "Job run requests per minute per region", n)
}

func writeLimit(n int) quota.Limit {
	return runLimit(quota.ReasonRate, "write_regional", "Write requests", "WritePerMinutePerProjectRegion", "Write requests per minute per region", n)
}

func readLimit(n int) quota.Limit {
	return runLimit(quota.ReasonRate, "read_regional", "Read requests", "ReadPerMinutePerProjectRegion", "Read requests per minute per region", n)
}

func jobsLimit(n int) quota.Limit {
	return runLimit(quota.ReasonResource, "jobs", "Jobs", "JobsPerProjectRegion", "Jobs per region", n)
}

func runningLimit(n int) quota.Limit {
	return runLimit(quota.ReasonResource, "running_job_executions", "Running job executions",
		"RunningJobExecutionsPerProjectRegion", "Running job executions per region", n)
}

// rates are the Admin API's per-minute quotas.
type rates struct {
	run, write, read *quota.Rate
}

func newRates(cfg Config) rates {
	return rates{
		run:   quota.NewRate(runJobLimit(quota.OrDefault(cfg.RunJobsPerMinute, DefaultRunJobsPerMinute)), cfg.Now),
		write: quota.NewRate(writeLimit(quota.OrDefault(cfg.WritesPerMinute, DefaultWritesPerMinute)), cfg.Now),
		read:  quota.NewRate(readLimit(quota.OrDefault(cfg.ReadsPerMinute, DefaultReadsPerMinute)), cfg.Now),
	}
}

// charge counts one request against r in the region of the resource name (projects/P/locations/R/…). A name with
// no region is not charged: the request fails validation anyway.
func (s *Service) charge(r *quota.Rate, name string) error {
	parts := strings.SplitN(name, "/", 5)
	if len(parts) < 4 || parts[0] != "projects" || parts[2] != "locations" || parts[3] == "" {
		return nil
	}
	if r.Take(parts[3]) {
		return nil
	}
	return r.Limit.Error(s.consumer(parts[3]))
}

func (s *Service) consumer(region string) quota.Consumer {
	return quota.Consumer{ProjectID: s.cfg.Project, ProjectNumber: s.cfg.ProjectNumber, Location: region}
}
