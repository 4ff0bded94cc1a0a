package googleconn_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/googleconn"
)

// slowReconnect is a backoff far longer than the test: a channel that waited it out would fail the call after the
// outage.
var slowReconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: time.Minute, Multiplier: 1, MaxDelay: time.Minute},
	MinConnectTimeout: time.Second,
}

// serve starts a gRPC server with the health service on addr and returns its stop.
func serve(t *testing.T, addr string) func() {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(l)
	return s.Stop
}

func check(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// The API goes away (its process stopped, connections refused) and comes back: the first call after that succeeds,
// although the channel's next reconnect attempt is a minute away; while the API is down, calls still fail.
func TestFirstCallAfterAnOutageSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options []grpc.DialOption
		want    codes.Code
	}{
		{"with the interceptor", googleconn.DialOptions(slowReconnect, time.Second), codes.OK},
		{"without (the defect)", []grpc.DialOption{grpc.WithConnectParams(slowReconnect)}, codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			stop := serve(t, addr)

			cc, err := grpc.NewClient(addr, append(tc.options, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			if err := check(ctx, cc); err != nil {
				t.Fatalf("before the outage: %v", err)
			}

			stop()
			for cc.GetState() != connectivity.TransientFailure { // the outage is seen: refused, backing off
				if err := check(ctx, cc); status.Code(err) != codes.Unavailable {
					t.Fatalf("during the outage: %v, want Unavailable", err)
				}
				if ctx.Err() != nil {
					t.Fatal("the channel never saw the outage")
				}
			}
			start := time.Now()
			if err := check(ctx, cc); status.Code(err) != codes.Unavailable {
				t.Fatalf("during the outage: %v, want Unavailable", err)
			}
			t.Logf("a call during the outage failed after %s", time.Since(start).Round(time.Millisecond))

			defer serve(t, addr)()
			if err := check(ctx, cc); status.Code(err) != tc.want {
				t.Fatalf("first call after the outage: %v, want %s", err, tc.want)
			}
		})
	}
}

// AwaitReconnect leaves a channel that is not in TRANSIENT_FAILURE alone: no reconnect forced, no wait.
func TestAwaitReconnectOnlyActsOnTransientFailure(t *testing.T) {
	for _, s := range []connectivity.State{
		connectivity.Idle, connectivity.Connecting, connectivity.Ready, connectivity.Shutdown,
	} {
		ch := &fakeChannel{state: s}
		googleconn.AwaitReconnect(context.Background(), ch, time.Hour)
		if ch.resets != 0 || ch.waits != 0 {
			t.Errorf("%s: %d resets, %d waits; want none", s, ch.resets, ch.waits)
		}
	}
	ch := &fakeChannel{state: connectivity.TransientFailure,
		next: []connectivity.State{connectivity.Connecting, connectivity.Ready}}
	googleconn.AwaitReconnect(context.Background(), ch, time.Hour)
	if ch.resets != 1 || ch.state != connectivity.Ready {
		t.Errorf("TRANSIENT_FAILURE: %d resets, ended %s; want 1 reset and READY", ch.resets, ch.state)
	}
}

type fakeChannel struct {
	state         connectivity.State
	next          []connectivity.State
	resets, waits int
}

func (f *fakeChannel) GetState() connectivity.State { return f.state }
func (f *fakeChannel) ResetConnectBackoff()         { f.resets++ }
func (f *fakeChannel) WaitForStateChange(ctx context.Context, from connectivity.State) bool {
	f.waits++
	if len(f.next) == 0 {
		<-ctx.Done()
		return false
	}
	f.state, f.next = f.next[0], f.next[1:]
	return true
}
