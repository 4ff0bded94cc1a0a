// Package googleconn holds the gRPC connection behaviour the control plane's Google API clients share (Cloud Run
// Admin API, Cloud Logging): after an outage of an API its connection is back for the first call made once the API
// answers again, instead of failing calls for as long as gRPC's reconnect backoff lasts.
//
// gRPC fails a call at once while its channel is in TRANSIENT_FAILURE, the state a channel stays in between
// reconnect attempts after its endpoint refused connections. With gRPC's defaults the attempts are up to 2 minutes
// apart, and even with our 5 s cap each of the clients' channels (one per client) kept failing calls for seconds
// after the API was back. The interceptor here makes a call that finds its channel so reconnect at once, and waits
// for that attempt (within ReconnectWait) before the call goes out; while the API is still down the call then fails
// as before, ReconnectWait later.
//
// It imports no runsock package and starts no goroutines.
package googleconn
