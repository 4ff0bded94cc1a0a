package googleconn

import (
	"context"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
)

// ReconnectWait bounds how long a call waits for a reconnect attempt of a channel found in TRANSIENT_FAILURE: a
// connection to a reachable endpoint is made in milliseconds (a TLS handshake to Google in a few hundred), so the
// wait costs a call made during an outage little before it fails naming the API.
const ReconnectWait = 2 * time.Second

// connectParams space the reconnect attempts made without calls: 1 s growing to 5 s (gRPC's default grows to 2
// minutes).
var connectParams = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

// ClientOptions are the options to give every Google API client of the control plane, before the caller's own.
func ClientOptions() []option.ClientOption {
	var opts []option.ClientOption
	for _, o := range DialOptions(connectParams, ReconnectWait) {
		opts = append(opts, option.WithGRPCDialOption(o))
	}
	return opts
}

// DialOptions are the gRPC dial options behind ClientOptions, with the reconnect backoff and the wait given (tests
// use a long backoff to show a call does not wait it out).
func DialOptions(p grpc.ConnectParams, wait time.Duration) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithConnectParams(p),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			AwaitReconnect(ctx, cc, wait)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
	}
}

// Channel is the part of a *grpc.ClientConn AwaitReconnect uses.
type Channel interface {
	GetState() connectivity.State
	ResetConnectBackoff()
	WaitForStateChange(ctx context.Context, from connectivity.State) bool
}

var _ Channel = (*grpc.ClientConn)(nil)

// AwaitReconnect returns at once unless cc is in TRANSIENT_FAILURE (between reconnect attempts, as after an outage).
// Then it makes cc attempt a connection now and waits until cc is READY, or wait has passed, or ctx ends; the
// caller's call then goes out (and fails at once if cc is still not connected).
func AwaitReconnect(ctx context.Context, cc Channel, wait time.Duration) {
	if cc.GetState() != connectivity.TransientFailure {
		return
	}
	cc.ResetConnectBackoff()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for s := cc.GetState(); s != connectivity.Ready && s != connectivity.Shutdown; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			return
		}
	}
}
