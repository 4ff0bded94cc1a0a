package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/coreos/go-oidc/v3/oidc"
)

// Mode says who checks a token's signature.
type Mode string

const (
	// ModeOIDC verifies the signature against the issuer's JWKS (local stack, or no Cloud Run IAM in front).
	ModeOIDC Mode = "oidc"
	// ModeCloudRun trusts Cloud Run's IAM, which verified the token and forwards it with its signature removed.
	// Only the payload is read; issuer, audience and expiry are still checked.
	ModeCloudRun Mode = "cloudrun"
)

// GoogleIssuer is the issuer of Google identity tokens, the only issuer trusted in ModeCloudRun.
const GoogleIssuer = "https://accounts.google.com"

// GcloudAudience is the audience of a person's token from `gcloud auth print-identity-token`, which cannot ask for
// another audience. Cloud Run's IAM accepts such tokens, so a control plane behind it must too (localproxy uses them
// for user accounts).
const GcloudAudience = "32555940559.apps.googleusercontent.com"

// DefaultClockSkew is the tolerance applied to exp and iat.
const DefaultClockSkew = 30 * time.Second

// Config configures a Verifier. Zero values are documented per field.
type Config struct {
	// Mode is ModeOIDC or ModeCloudRun. Required.
	Mode Mode
	// Issuer is the issuer URL whose tokens are accepted. Required in ModeOIDC (its JWKS verifies signatures). In
	// ModeCloudRun it names the issuer Cloud Run's front end verified ("" = GoogleIssuer; the local cloud's front end
	// forwards tokens of gcpsim's issuer).
	Issuer string
	// Audiences are the accepted aud values, normally the control plane's URL. Required.
	Audiences []string
	// AllowEmails and AllowDomains restrict who may use the control plane after the token is verified. Both empty =
	// everyone with a verified token (the Cloud Run invoker IAM binding is then the only gate). Domains match the
	// part after "@" exactly ("example.com" does not admit "evil-example.com" or "sub.example.com").
	AllowEmails, AllowDomains []string
	// Admins are emails that see every user's objects. Admins are always allowed.
	Admins []string
	// AgentOnly are identities that may open agent links but never use the Docker API, whatever the allow-list
	// says: the jobs' service account, whose tokens any code in any container can get from the metadata server.
	AgentOnly []string
	// ClockSkew tolerates clock differences on exp and iat. 0 = DefaultClockSkew.
	ClockSkew time.Duration
	// HTTPClient fetches discovery and keys. nil = a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// Logger receives refused requests at debug level (never the token). nil = discard.
	Logger *slog.Logger
}

// Verifier checks identity tokens and turns them into Principals.
type Verifier struct {
	mode      Mode
	audiences []string
	allowMail map[string]bool
	allowDom  map[string]bool
	admins    map[string]bool
	agentOnly map[string]bool
	skew      time.Duration
	now       func() time.Time
	tokens    *oidc.IDTokenVerifier
	keys      *keySet // nil in ModeCloudRun
	log       *slog.Logger
}

// NewVerifier validates cfg and returns a Verifier. It does not contact the issuer; keys are fetched on first use.
// Close ends a key fetch that is running.
func NewVerifier(cfg Config) (*Verifier, error) {
	var problems []string
	v := &Verifier{
		mode:      cfg.Mode,
		audiences: cfg.Audiences,
		allowMail: lowerSet(cfg.AllowEmails),
		allowDom:  lowerSet(cfg.AllowDomains),
		admins:    lowerSet(cfg.Admins),
		agentOnly: lowerSet(cfg.AgentOnly),
		skew:      cfg.ClockSkew,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	issuer := cfg.Issuer
	switch cfg.Mode {
	case ModeOIDC:
		if cfg.Issuer == "" {
			problems = append(problems, "identity: oidc mode needs an issuer URL")
		}
	case ModeCloudRun:
		if issuer == "" {
			issuer = GoogleIssuer // go-oidc also accepts "accounts.google.com", which Google's older tokens carry
		}
	default:
		problems = append(problems, fmt.Sprintf("identity: mode %q is neither %q nor %q", cfg.Mode, ModeOIDC, ModeCloudRun))
	}
	if len(cfg.Audiences) == 0 {
		problems = append(problems, "identity: at least one audience (the control plane's URL) is required")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if v.skew == 0 {
		v.skew = DefaultClockSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	// go-oidc checks the issuer, the signature algorithm, expiry (with our skew) and, in oidc mode, the signature;
	// runsock's own rules (audiences, iat, a verified email) follow in verify.
	oc := &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{oidc.RS256},
		Now: func() time.Time { return v.now().Add(-v.skew) }}
	var ks oidc.KeySet
	if cfg.Mode == ModeOIDC {
		v.keys = newKeySet(cfg.Issuer, client, v.now)
		ks = v.keys
	} else {
		oc.InsecureSkipSignatureCheck = true // Cloud Run's IAM checked it, and removed it
	}
	v.tokens = oidc.NewVerifier(issuer, ks, oc)
	return v, nil
}

// Close ends a key fetch in progress and waits for it. Verify keeps working from the cached keys.
func (v *Verifier) Close() {
	if v.keys != nil {
		v.keys.close()
	}
}

func lowerSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			m[s] = true
		}
	}
	return m
}

// Verify checks token (a compact JWT) and returns the verified email. It does not apply the allow-list: the agent
// link calls it for job service accounts. Errors wrap errdefs.ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, raw string) (string, error) {
	email, err := v.verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errdefs.ErrUnauthenticated, err)
	}
	return email, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no identity token")
	}
	if v.keys == nil {
		raw = withoutSignature(raw)
	}
	tok, err := v.tokens.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case errors.As(err, &expired) && expired.Expiry.IsZero():
			return "", errors.New("token has no expiry")
		case errors.As(err, &expired):
			return "", fmt.Errorf("token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
		}
		return "", err
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return "", fmt.Errorf("token audience %q does not match this control plane (want %s)",
			strings.Join(tok.Audience, ","), strings.Join(v.audiences, " or "))
	}
	if tok.IssuedAt.After(v.now().Add(v.skew)) {
		return "", errors.New("token issued in the future")
	}
	var c struct {
		Email         string    `json:"email"`
		EmailVerified boolClaim `json:"email_verified"`
	}
	if err := tok.Claims(&c); err != nil {
		return "", fmt.Errorf("malformed token claims: %w", err)
	}
	if c.Email == "" {
		return "", errors.New("token carries no email (request it with the email included)")
	}
	if !c.EmailVerified {
		return "", fmt.Errorf("token email %q is not verified (email_verified missing or false)", c.Email)
	}
	return strings.ToLower(c.Email), nil
}

// SignatureRemoved is what Cloud Run's front end puts in place of the signature of a token it forwards.
const SignatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// withoutSignature turns what Cloud Run forwards ("h.p.SIGNATURE_REMOVED_BY_GOOGLE", "h.p." or "h.p") into the
// compact form with an empty signature that go-oidc parses when it is told not to check one.
func withoutSignature(raw string) string {
	if strings.Count(raw, ".") == 1 {
		return raw + "."
	}
	if h, ok := strings.CutSuffix(raw, "."+SignatureRemoved); ok {
		return h + "."
	}
	return raw
}

// boolClaim accepts true and "true": some issuers encode email_verified as a string.
type boolClaim bool

func (c *boolClaim) UnmarshalJSON(b []byte) error {
	*c = boolClaim(strings.Trim(string(b), `"`) == "true")
	return nil
}

// Authorize turns a verified email into a Principal, or an error wrapping errdefs.ErrPermissionDenied when the email
// is not on the allow-list.
func (v *Verifier) Authorize(email string) (Principal, error) {
	email = strings.ToLower(email)
	if v.agentOnly[email] {
		return Principal{}, fmt.Errorf("%w: %s is the identity of containers' agents; it may not use the Docker API", errdefs.ErrPermissionDenied, email)
	}
	p := Principal{Email: email, Admin: v.admins[email]}
	if p.Admin || (len(v.allowMail) == 0 && len(v.allowDom) == 0) || v.allowMail[email] {
		return p, nil
	}
	if i := strings.LastIndexByte(email, '@'); i >= 0 && v.allowDom[email[i+1:]] {
		return p, nil
	}
	return Principal{}, fmt.Errorf("%w: %s is not on this control plane's allow-list", errdefs.ErrPermissionDenied, email)
}

// TokenFromRequest returns the bearer token from X-Serverless-Authorization, else Authorization ("" if none).
func TokenFromRequest(r *http.Request) string {
	for _, h := range []string{"X-Serverless-Authorization", "Authorization"} {
		if tok, ok := bearer(r.Header.Get(h)); ok {
			return tok
		}
	}
	return ""
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

var pingPath = regexp.MustCompile(`^(/v[0-9]+(\.[0-9]+)?)?/_ping$`)

// IsPing reports whether r is Docker's ping (GET or HEAD /_ping, optionally versioned), which the middleware lets
// through without an identity.
func IsPing(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && pingPath.MatchString(r.URL.Path)
}

// Middleware authenticates every request and puts its Principal in the context (see FromContext). Requests without
// a valid token get 401, verified identities not on the allow-list get 403, both with Docker's {"message": ...}
// body. Ping is open: it passes without a principal (or with one, if a valid token came along).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := TokenFromRequest(r)
		if IsPing(r) {
			if raw != "" {
				if p, err := v.principal(r.Context(), raw); err == nil {
					r = r.WithContext(WithPrincipal(r.Context(), p))
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		if raw == "" {
			writeError(w, http.StatusUnauthorized, "runsock: no identity token: run localproxy (see README) and point "+
				"DOCKER_HOST at its socket, or send a Google identity token for this control plane's URL in "+
				"X-Serverless-Authorization: Bearer ...")
			return
		}
		p, err := v.principal(r.Context(), raw)
		switch {
		case errors.Is(err, errdefs.ErrPermissionDenied):
			v.log.Debug("identity: refused", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusForbidden, "runsock: "+strings.TrimPrefix(err.Error(), errdefs.ErrPermissionDenied.Error()+": ")+
				": ask a control plane admin to add you")
			return
		case err != nil:
			v.log.Debug("identity: unauthenticated", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusUnauthorized, "runsock: identity token rejected: "+
				strings.TrimPrefix(err.Error(), errdefs.ErrUnauthenticated.Error()+": ")+
				": restart localproxy or check that its --url is this control plane's URL")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

func (v *Verifier) principal(ctx context.Context, raw string) (Principal, error) {
	email, err := v.Verify(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	return v.Authorize(email)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
