package metadata

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Config configures a Server.
type Config struct {
	// Identity names the service account of the task container at a remote address; ok false means the caller is
	// unknown and gets 404 for service-account paths, like an instance without a service account. Nil: nobody.
	Identity func(remote netip.Addr) (email string, ok bool)
	// HostServiceAccount is the service account of callers on this machine (loopback, or a connection from one of
	// the server's own addresses) that Identity does not know: the control plane, which plays a Cloud Run instance
	// locally and finds this server through GCE_METADATA_HOST. Empty: such callers have no service account.
	HostServiceAccount string
	// AccessToken mints the OAuth2 access token of instance/service-accounts/default/token and of the gcloud-style
	// GET /gcpsim/v1/accesstoken. Nil: random tokens that nothing accepts, and no gcloud-style endpoint.
	AccessToken func(email string) (token string, expires time.Time, err error)
	// Issuer is the iss claim and the base URL of the discovery document, e.g. http://172.31.213.1:18092.
	Issuer string
	// ProjectID, ProjectNumber and Region are served under project/ and instance/.
	ProjectID, ProjectNumber, Region string
	// KeyFile keeps the RSA signing key (PEM) so tokens stay valid across restarts; it is generated if absent.
	// Empty: a new key in memory on every start.
	KeyFile string
	// Logger may be nil (discard).
	Logger *slog.Logger
	// Now is the clock for iat/exp; nil means time.Now.
	Now func() time.Time
}

// Server is the metadata server and OIDC issuer. It is an http.Handler.
type Server struct {
	cfg Config
	key *rsa.PrivateKey
	kid string
	log *slog.Logger
	mux *http.ServeMux
}

// New loads or creates the signing key and returns the Server.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("metadata: Issuer is required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	key, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, key: key, kid: keyID(&key.PublicKey), log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.mux.HandleFunc("GET /{$}", s.root)
	s.mux.HandleFunc("GET /computeMetadata/v1/{path...}", s.metadata)
	s.mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	s.mux.HandleFunc("GET /gcpsim/v1/certs", s.certs)
	s.mux.HandleFunc("GET /gcpsim/v1/idtoken", s.devToken)
	if cfg.AccessToken != nil {
		s.mux.HandleFunc("GET /gcpsim/v1/accesstoken", s.devAccessToken)
	}
	return s, nil
}

// ServeHTTP serves the metadata paths, the OIDC discovery document, the JWKS and the dev token endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Metadata-Flavor", "Google")
	w.Header().Set("Server", "Metadata Server for VM")
	s.mux.ServeHTTP(w, r)
}

// Issuer is the iss claim of every token this server signs.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// PublicKey is the key that verifies this server's tokens, for gcpsim's front ends in the same process.
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// JWKSURL is where the signing keys are published.
func (s *Server) JWKSURL() string { return s.cfg.Issuer + "/gcpsim/v1/certs" }

// IDToken returns a signed identity token for email and audience.
func (s *Server) IDToken(email, audience string) (string, error) {
	return s.idToken(email, audience, s.cfg.Now())
}

// idToken signs a token issued at now.
func (s *Server) idToken(email, audience string, now time.Time) (string, error) {
	id := numericID(email)
	return sign(s.key, s.kid, Claims{
		Issuer: s.cfg.Issuer, Audience: audience, AuthorizedBy: id, Subject: id,
		Email: email, EmailVerified: true,
		IssuedAt: now.Unix(), Expires: now.Add(TokenLifetime).Unix(),
	})
}

func (s *Server) root(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "computeMetadata/\n")
}

func text(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/text")
	io.WriteString(w, body)
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing required header \"Metadata-Flavor\": \"Google\"", http.StatusForbidden)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Metadata requests must not be forwarded (X-Forwarded-For present)", http.StatusForbidden)
		return
	}
	path := strings.TrimSuffix(r.PathValue("path"), "/")
	num, region := s.cfg.ProjectNumber, s.cfg.Region
	switch path {
	case "project/project-id":
		text(w, s.cfg.ProjectID)
		return
	case "project/numeric-project-id":
		text(w, num)
		return
	case "instance/region":
		text(w, "projects/"+num+"/regions/"+region)
		return
	case "instance/zone":
		text(w, "projects/"+num+"/zones/"+region+"-1")
		return
	case "instance/id":
		host, _, _ := strings.Cut(r.RemoteAddr, ":")
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			host = ap.Addr().Unmap().String()
		}
		sum := sha256.Sum256([]byte("gcpsim-instance:" + host))
		text(w, hex.EncodeToString(sum[:]))
		return
	}
	rest, ok := strings.CutPrefix(path, "instance/service-accounts")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.serviceAccount(w, r, strings.TrimPrefix(rest, "/"))
}

// serviceAccount serves instance/service-accounts/... for the calling task's service account.
func (s *Server) serviceAccount(w http.ResponseWriter, r *http.Request, rest string) {
	email, ok := s.caller(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rest == "" {
		text(w, "default/\n"+email+"/\n")
		return
	}
	acct, item, _ := strings.Cut(rest, "/")
	if acct != "default" && acct != email {
		http.NotFound(w, r)
		return
	}
	switch item {
	case "email":
		text(w, email)
	case "aliases":
		text(w, "default")
	case "scopes":
		text(w, "https://www.googleapis.com/auth/cloud-platform\n")
	case "identity":
		audience := r.URL.Query().Get("audience")
		if audience == "" {
			http.Error(w, "non-empty audience parameter required", http.StatusBadRequest)
			return
		}
		s.writeToken(w, email, audience)
	case "token":
		s.accessToken(w, email)
	case "":
		text(w, "aliases\nemail\nidentity\nscopes\ntoken\n")
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) caller(r *http.Request) (string, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return "", false
	}
	remote := ap.Addr().Unmap()
	if s.cfg.Identity != nil {
		if email, ok := s.cfg.Identity(remote); ok {
			return email, true
		}
	}
	if s.cfg.HostServiceAccount != "" && fromThisHost(r, remote) {
		return s.cfg.HostServiceAccount, true
	}
	return "", false
}

// fromThisHost reports whether the caller runs on this machine: it came over loopback, from the address it dialled,
// or from any address of this machine's interfaces (a host process dialling the task network's gateway may be seen
// with the address of the machine's main interface). Task containers have addresses in their own namespaces.
func fromThisHost(r *http.Request, remote netip.Addr) bool {
	if remote.IsLoopback() {
		return true
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if lap, err := netip.ParseAddrPort(local.String()); err == nil && lap.Addr().Unmap() == remote {
			return true
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == remote {
			return true
		}
	}
	return false
}

func (s *Server) writeToken(w http.ResponseWriter, email, audience string) {
	tok, err := s.IDToken(email, audience)
	if err != nil {
		s.log.Error("metadata: sign identity token", "email", email, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	text(w, tok)
}

// accessToken serves instance/service-accounts/default/token: {access_token, expires_in, token_type} for email.
func (s *Server) accessToken(w http.ResponseWriter, email string) {
	tok, exp, err := s.mintAccessToken(email)
	if err != nil {
		s.log.Error("metadata: mint access token", "email", email, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   max(int(exp.Sub(s.cfg.Now()).Seconds()), 0),
		"token_type":   "Bearer",
	})
}

func (s *Server) mintAccessToken(email string) (string, time.Time, error) {
	if s.cfg.AccessToken != nil {
		return s.cfg.AccessToken(email)
	}
	b := make([]byte, 24)
	rand.Read(b)
	return "ya29.gcpsim." + hex.EncodeToString(b), s.cfg.Now().Add(TokenLifetime), nil
}

// devAccessToken serves GET /gcpsim/v1/accesstoken?email=E: a person's access token as plain text, as
// `gcloud auth print-access-token` prints it.
func (s *Server) devAccessToken(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if !strings.Contains(email, "@") {
		http.Error(w, "want ?email=NAME@DOMAIN", http.StatusBadRequest)
		return
	}
	tok, _, err := s.mintAccessToken(email)
	if err != nil {
		s.log.Error("metadata: mint access token", "email", email, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	text(w, tok+"\n")
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                s.cfg.Issuer,
		"jwks_uri":                              s.JWKSURL(),
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"aud", "azp", "email", "email_verified", "exp", "iat", "iss", "sub"},
	})
}

func (s *Server) certs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(map[string]any{"keys": []jwk{publicJWK(&s.key.PublicKey, s.kid)}})
}

// devToken serves GET /gcpsim/v1/idtoken?email=E&audience=A: a token for a person, for localproxy in the dev stack;
// &expired=true gives one that has expired, for tests.
func (s *Server) devToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	email, audience := q.Get("email"), q.Get("audience")
	if !strings.Contains(email, "@") || audience == "" {
		http.Error(w, "want ?email=NAME@DOMAIN&audience=AUDIENCE[&expired=true]", http.StatusBadRequest)
		return
	}
	if q.Get("expired") == "true" {
		// For tests of the front end: a token that expired a minute ago (issued an hour and a minute ago).
		tok, err := s.idToken(email, audience, s.cfg.Now().Add(-TokenLifetime-time.Minute))
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		text(w, tok)
		return
	}
	s.writeToken(w, email, audience)
}
