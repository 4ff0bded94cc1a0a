package forward

import (
	"net"
	"net/http"
)

// GuardLoopback wraps the handler of localproxy's optional TCP listener. Anything on the machine can reach a
// loopback port, web pages included: a page can send requests to 127.0.0.1 (always with an Origin header), and DNS
// rebinding makes a page's own host name resolve to 127.0.0.1 (the Host header then names that host). Docker
// clients send neither, so a request carrying Origin, or a Host that is not localhost or a loopback address, is
// refused with 403 before anything is forwarded with the user's identity.
func GuardLoopback(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			refuse(w, "localproxy refuses requests from web pages (Origin header present)")
			return
		}
		if !loopbackHost(r.Host) {
			refuse(w, "localproxy accepts only Host: localhost or a loopback address on its TCP listener")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"message":"` + msg + `"}` + "\n"))
}
