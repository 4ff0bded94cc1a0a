// Package config reads localproxy's flags and environment once into a typed Config and reports every problem at
// once. Nothing else in localproxy reads the environment (except Google's credential discovery).
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
)

// Config is localproxy's configuration.
type Config struct {
	// URL is the control plane's URL (https; http means h2c, for tests). --url, RUNSOCK_CONTROL_PLANE_URL. Required.
	URL string
	// Socket is the unix socket to serve. Default $XDG_RUNTIME_DIR/runsock/docker.sock, else ~/.runsock/docker.sock.
	Socket string
	// TCP is an optional extra listen address, e.g. 127.0.0.1:2375 ("" = none). Loopback only.
	TCP string
	// CAFile is an extra trusted CA (the local stack's dev CA). --ca-file, RUNSOCK_CA_FILE or RUNSOCK_DEV_CA.
	CAFile string
	// TokenCommand prints an identity token (re-run before exp). --token-command, RUNSOCK_TOKEN_COMMAND.
	TokenCommand string
	// TokenFile holds an identity token (re-read before exp). --token-file, RUNSOCK_TOKEN_FILE.
	TokenFile string
	// Credentials is a Google credentials JSON file ("" = Application Default Credentials). --credentials.
	Credentials string
	// Impersonate is a service account to impersonate. --impersonate, RUNSOCK_IMPERSONATE.
	Impersonate string
	// Debug turns on debug logs. --debug.
	Debug bool
	// StateDir keeps what localproxy staged for bind mounts, so changes not yet written back survive a restart.
	// --state-dir, RUNSOCK_STATE_DIR. Default $XDG_STATE_HOME/runsock, else ~/.local/state/runsock.
	StateDir string
	// BindLimit is the most a bind mount's files may hold, in MiB. --bind-limit. Default 1024 (the control plane's).
	BindLimit int64
	// Args are the arguments after the flags (localproxy sync CONTAINER).
	Args []string
}

// Parse reads args (without the program name or subcommand) and the environment.
func Parse(name string, args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", os.Getenv("RUNSOCK_CONTROL_PLANE_URL"), "control plane URL (RUNSOCK_CONTROL_PLANE_URL)")
	fs.StringVar(&c.Socket, "socket", defaultSocket(), "unix socket to serve the Docker API on")
	fs.StringVar(&c.TCP, "tcp", "", "also listen on this loopback TCP address, e.g. 127.0.0.1:2375")
	fs.StringVar(&c.CAFile, "ca-file", firstEnv("RUNSOCK_CA_FILE", "RUNSOCK_DEV_CA"), "extra trusted CA certificate (PEM)")
	fs.StringVar(&c.TokenCommand, "token-command", os.Getenv("RUNSOCK_TOKEN_COMMAND"), "command printing an identity token")
	fs.StringVar(&c.TokenFile, "token-file", os.Getenv("RUNSOCK_TOKEN_FILE"), "file holding an identity token")
	fs.StringVar(&c.Credentials, "credentials", "", "Google credentials JSON (default: Application Default Credentials)")
	fs.StringVar(&c.Impersonate, "impersonate", os.Getenv("RUNSOCK_IMPERSONATE"), "service account to impersonate")
	fs.BoolVar(&c.Debug, "debug", false, "debug logging")
	fs.StringVar(&c.StateDir, "state-dir", firstEnv("RUNSOCK_STATE_DIR"), "where bind mounts' state is kept (default $XDG_STATE_HOME/runsock)")
	fs.Int64Var(&c.BindLimit, "bind-limit", 1024, "most MiB of files a bind mount may hold")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}
	c.Args = fs.Args()
	return c, c.validate()
}

func (c Config) validate() error {
	var p []error
	if c.URL == "" {
		p = append(p, errors.New("no control plane URL: pass --url https://... or set RUNSOCK_CONTROL_PLANE_URL"))
	} else if err := checkURL(c.URL); err != nil {
		p = append(p, err)
	}
	if c.TokenCommand != "" && c.TokenFile != "" {
		p = append(p, errors.New("--token-command and --token-file are exclusive"))
	}
	if c.Socket == "" {
		p = append(p, errors.New("no socket path: pass --socket"))
	}
	if c.BindLimit <= 0 || c.BindLimit > 1024 {
		p = append(p, errors.New("--bind-limit: want 1 to 1024 MiB (the control plane takes no more)"))
	}
	return errors.Join(p...)
}

// checkURL accepts https URLs, and http only to a loopback address (tests, a local h2c control plane): the identity
// token travels with every request and must never cross a network in clear.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("control plane URL %q is not a URL (want https://HOST)", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || isLoopbackIP(h) {
			return nil
		}
		return fmt.Errorf("control plane URL %q: http:// is allowed only to a loopback address (your identity token would travel in clear); use https://", raw)
	}
	return fmt.Errorf("control plane URL %q must start with https://", raw)
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

func defaultSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "runsock", "docker.sock")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".runsock", "docker.sock")
	}
	return ""
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "runsock")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "runsock")
	}
	return ""
}
