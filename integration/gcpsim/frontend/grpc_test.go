package frontend

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"x-serverless-authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

// gRPC (the agent link) passes through the front end: h2c to the service, trailers back, refusals as gRPC codes,
// and a stream cut at the request timeout.
func TestGRPCThroughTheFrontEnd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var seenAuth []string
	g := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		seenAuth = md.Get("x-serverless-authorization")
		return h(srv, ss)
	}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	go g.Serve(l)
	defer g.Stop()

	fe := httptest.NewUnstartedServer(nil)
	fe.EnableHTTP2 = true
	fe.StartTLS()
	defer fe.Close()
	f, err := New(Config{Name: "grpc", URLs: []string{fe.URL}, Invokers: []string{"serviceAccount:" + jobsSA},
		Backend: "h2c://" + l.Addr().String(), Issuer: issuer, Key: &signingKey.PublicKey, RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fe.Config.Handler = f
	pool := fe.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	dial := func(tok string) healthpb.HealthClient {
		cc, err := grpc.NewClient("passthrough:///"+fe.Listener.Addr().String(),
			grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "example.com")), grpc.WithPerRPCCredentials(bearer(tok)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return healthpb.NewHealthClient(cc)
	}
	ctx := context.Background()

	good := token(t, signingKey, map[string]any{"aud": fe.URL, "email": jobsSA})
	stream, err := dial(good).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first message: %v, %v", resp, err)
	}
	if len(seenAuth) != 1 || seenAuth[0] != "Bearer "+stripSignature(good) {
		t.Errorf("service saw x-serverless-authorization %q", seenAuth)
	}
	// The request timeout ends the stream cleanly without grpc-status: gRPC reports it as INTERNAL.
	start := time.Now()
	_, err = stream.Recv()
	if status.Code(err) != codes.Internal || time.Since(start) > 3*time.Second {
		t.Errorf("after the cut: %v (%s)", err, time.Since(start))
	}
	t.Logf("a cut gRPC stream reads: %v", err)

	for _, tc := range []struct {
		name string
		tok  string
		want codes.Code
	}{
		{"invalid token", stripSignature(good), codes.Unauthenticated},
		{"not an invoker", token(t, signingKey, map[string]any{"aud": fe.URL, "email": otherSA}), codes.PermissionDenied},
	} {
		_, err := dial(tc.tok).Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}
