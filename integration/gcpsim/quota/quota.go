package quota

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorInfo reasons (google/api/error_reason.proto).
const (
	// ReasonRate: the request violates a rate quota (requests per minute).
	ReasonRate = "RATE_LIMIT_EXCEEDED"
	// ReasonResource: the request violates an allocation quota (how many of a thing may exist or run).
	ReasonResource = "RESOURCE_QUOTA_EXCEEDED"
)

// Help link Google attaches to quota errors (§5.2.3).
const (
	helpDescription = "Request a higher quota limit."
	helpURL         = "https://cloud.google.com/docs/quota#requesting_higher_quota"
)

// Limit is one quota, named as Google names it.
type Limit struct {
	Service    string // "run.googleapis.com"
	Metric     string // "run.googleapis.com/read_regional"
	MetricName string // "Read requests"
	LimitID    string // "ReadPerMinutePerProjectRegion"
	LimitName  string // "Read requests per minute per region"
	Value      int64  // the limit
	Reason     string // ReasonRate or ReasonResource
	QuotasURL  string // the product's quota page, named at the end of the message
}

// Consumer is the project a request is charged to, and where.
type Consumer struct {
	ProjectID, ProjectNumber string
	Location                 string // a region, or "global" for per-project quotas
}

// Error is the RESOURCE_EXHAUSTED status Google returns when c exceeds l.
func (l Limit) Error(c Consumer) error {
	number := c.ProjectNumber
	if number == "" {
		number = c.ProjectID
	}
	// Verbatim as Google writes it: in this order, the metric's "/" not escaped (the identifiers are URL-safe).
	query := "metric=" + l.Metric + "&limit=" + l.LimitID
	if l.Reason == ReasonRate {
		query += "&qs_error_code=INSUFFICIENT_TOKENS"
	}
	query += "&project=" + c.ProjectID + "&service=" + l.Service
	msg := fmt.Sprintf("Quota exceeded for quota metric '%s' and limit '%s' of service '%s' for consumer 'project_number:%s'. "+
		"To see usage, go to https://console.cloud.google.com/iam-admin/quotas?%s. To request a quota increase, see %s.",
		l.MetricName, l.LimitName, l.Service, number, query, l.QuotasURL)
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: l.Reason, Domain: "googleapis.com", Metadata: map[string]string{
			"consumer":          "projects/" + number,
			"quota_limit":       l.LimitID,
			"quota_limit_value": strconv.FormatInt(l.Value, 10),
			"quota_location":    c.Location,
			"quota_metric":      l.Metric,
			"service":           l.Service,
		}},
		&errdetails.Help{Links: []*errdetails.Help_Link{{Description: helpDescription, Url: helpURL}}},
	)
	if err != nil { // only if the details cannot be marshalled, which they always can
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}

// Rate is a per-minute rate quota, one token bucket per key (a location, or a project). Safe for concurrent use.
type Rate struct {
	Limit Limit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRate returns a rate quota of l.Value requests per minute. now may be nil (time.Now). A Value of 0 or less
// admits everything.
func NewRate(l Limit, now func() time.Time) *Rate {
	if now == nil {
		now = time.Now
	}
	return &Rate{Limit: l, now: now, buckets: map[string]*bucket{}}
}

// Take charges one request to key and reports whether it was within the quota. A refused request costs nothing.
func (r *Rate) Take(key string) bool {
	if r == nil || r.Limit.Value <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	capacity := float64(r.Limit.Value)
	b, ok := r.buckets[key]
	if !ok {
		b = &bucket{tokens: capacity, at: now}
		r.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(capacity, b.tokens+d.Minutes()*capacity)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// OrDefault reads a limit from configuration: 0 means def, a negative number unlimited (0 for NewRate).
func OrDefault(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
