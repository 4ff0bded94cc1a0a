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

// agentRun is what an authenticated stream speaks for: one container's run in one execution.
type agentRun struct {
	id        string
	execution string // as the credentials record it (the full name)
	run       string
	ended     bool // the run has ended: its agent may finish delivering, but takes no sessions
}

// authFreshness says whether authenticate may use cached credentials.
type authFreshness bool

const (
	// fresh reads the container's record: a control stream (once per link) decides where sessions go, so it must
	// not be admitted by a cache that has not seen the container's newest start.
	fresh authFreshness = true
	// cached may use the cache: output and session streams are checked against the link they belong to as well.
	cached authFreshness = false
)

// authenticate checks a stream's credentials and returns the run it speaks for. Every stream is checked: the
// execution against the container's current run, the identity token's email (with a verifier) against the run's
// service account, and the agent's key against the stored hash (constant time). A key the run does not know yet is
// bound to it with the run's one-time bootstrap (Credentials.ClaimBootstrap), which works once. Failures say little to
// the caller and are logged without the secrets or the token.
//
// The bootstrap is readable (the RunJob override is kept in the Execution resource) from the launch until the agent's
// first link spends it, usually seconds: someone holding both project read access and the jobs' identity who dials
// in that window wins the claim, and the agent is then refused ("bootstrap already spent", logged).
// Nothing a viewer can read helps after it.
func (h *Hub) authenticate(ctx context.Context, freshness authFreshness) (agentRun, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id, execution := first(linkproto.MDContainerID), first(linkproto.MDExecution)
	key, bootstrap := first(linkproto.MDKey), first(linkproto.MDBootstrap)
	// The job's identity token, where Cloud Run's front end checked it ("Bearer h.p.SIGNATURE_REMOVED_BY_GOOGLE").
	token := strings.TrimSpace(strings.TrimPrefix(first(linkproto.MDServerlessAuth), "Bearer "))
	refuse := func(why string, err error) (agentRun, error) {
		h.log.Warn("agent refused", "container", id, "execution", execution, "reason", why, "error", err)
		return agentRun{}, status.Error(codes.Unauthenticated, "agent not authenticated")
	}
	if id == "" || execution == "" || len(key) < minKeyLen {
		return refuse("missing container ID, execution or key", nil)
	}
	email := ""
	if h.opts.Tokens != nil {
		if token == "" {
			return refuse("missing identity token", nil)
		}
		var err error
		if email, err = h.opts.Tokens.Verify(ctx, token); err != nil {
			return refuse("identity token rejected", err)
		}
	}
	creds, err := h.opts.Credentials.AgentCredentials(ctx, id, bool(freshness))
	if err != nil {
		return refuse("no credentials for the container", err)
	}
	if !SameExecution(creds.Execution, execution) {
		return refuse("not the container's current execution", nil)
	}
	if h.opts.Tokens != nil && (creds.ServiceAccount == "" || email != creds.ServiceAccount) {
		return refuse("identity "+email+" is not the container's service account", nil)
	}
	run := agentRun{id: id, execution: creds.Execution, run: creds.Run, ended: creds.Ended}
	if matches(creds.KeyHash, key) {
		return run, nil
	}
	if creds.Ended {
		return refuse("the run has ended", nil)
	}
	if bootstrap != "" && len(creds.KeyHash) != 0 {
		// A bootstrap that was claimed already buys nothing. It comes from someone who read the Execution's
		// environment — or, if that someone dialled before the agent did, from the agent itself: either way worth
		// an operator's look, so the reason is its own.
		return refuse("bootstrap already spent", nil)
	}
	if bootstrap == "" || !matches(creds.BootstrapHash, bootstrap) {
		return refuse("wrong key", nil)
	}
	if err := h.opts.Credentials.ClaimBootstrap(ctx, id, creds.Execution, SecretHash(bootstrap), SecretHash(key)); err != nil {
		return refuse("bootstrap not accepted", err)
	}
	h.log.Info("agent key bound to its execution", "container", id, "execution", execution)
	return run, nil
}

// minKeyLen is the shortest key accepted: 32 random bytes in unpadded base64 are 43 characters.
const minKeyLen = 43

// matches compares secret with a stored hash in constant time; an empty hash matches nothing.
func matches(hash []byte, secret string) bool {
	return len(hash) != 0 && secret != "" && subtle.ConstantTimeCompare(SecretHash(secret), hash) == 1
}

// SameExecution compares execution names, either of which may be short (the agent knows its execution by the short
// name Cloud Run gives it in CLOUD_RUN_EXECUTION; the control plane records the full resource name).
func SameExecution(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return a[strings.LastIndexByte(a, '/')+1:] == b[strings.LastIndexByte(b, '/')+1:]
}
