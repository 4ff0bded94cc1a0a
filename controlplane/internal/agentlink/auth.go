package agentlink

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/linkproto"
)

// authenticate checks a stream's credentials and returns the container it speaks for. Every stream is checked:
// the secret against the stored hash (constant time) and, with a verifier, the identity token's email against the
// container's service account. Failures say little to the caller and are logged without the secret or token.
func (h *Hub) authenticate(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id, secret := first(linkproto.MDContainerID), first(linkproto.MDSecret)
	// The job's identity token, where Cloud Run's front end checked it ("Bearer h.p.SIGNATURE_REMOVED_BY_GOOGLE").
	token := strings.TrimSpace(strings.TrimPrefix(first(linkproto.MDServerlessAuth), "Bearer "))
	refuse := func(why string, err error) (string, error) {
		h.log.Warn("agent refused", "container", id, "reason", why, "error", err)
		return "", status.Error(codes.Unauthenticated, "agent not authenticated")
	}
	if id == "" || secret == "" {
		return refuse("missing container ID or secret", nil)
	}
	creds, err := h.opts.Credentials.AgentCredentials(ctx, id)
	if err != nil {
		return refuse("no credentials for the container", err)
	}
	if len(creds.SecretHash) == 0 || subtle.ConstantTimeCompare(SecretHash(secret), creds.SecretHash) != 1 {
		return refuse("wrong secret", nil)
	}
	if h.opts.Tokens == nil {
		return id, nil
	}
	if token == "" {
		return refuse("missing identity token", nil)
	}
	email, err := h.opts.Tokens.Verify(ctx, token)
	if err != nil {
		return refuse("identity token rejected", err)
	}
	if creds.ServiceAccount == "" || email != creds.ServiceAccount {
		return refuse("identity "+email+" is not the container's service account", nil)
	}
	return id, nil
}
