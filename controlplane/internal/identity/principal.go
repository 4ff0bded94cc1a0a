package identity

import "context"

// Principal is the caller of a request: the identity that owns what it creates.
type Principal struct {
	// Email is the verified email of the user or service account.
	Email string
	// Admin may list and act on every user's objects.
	Admin bool
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal authenticated for this request.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
