// Package quota is gcpsim's quota enforcement, shared by the simulated APIs: a Limit names one quota as Google
// names it and builds the error Google returns when it is exceeded — gRPC RESOURCE_EXHAUSTED with the message
// template of docs/reference/google-front-door.md §5.2.2 and the details of §5.2.3 (google.rpc.ErrorInfo with
// quota_metric, quota_limit, quota_limit_value, quota_location, service and consumer; then google.rpc.Help) — and
// Rate is a per-minute rate quota as a token bucket per location.
//
// A token bucket holds at most the per-minute limit and refills it evenly over a minute: a burst of the whole
// minute's quota passes at once, then one request per 60/limit seconds. Google's exact accounting window is not
// documented; the bucket is never kinder than "limit requests in any one minute" after the first burst.
//
// It is a leaf: it imports no other gcpsim package, so every simulated API may use it. It starts no goroutines.
package quota
