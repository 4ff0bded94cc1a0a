package frontend

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
)

// Google's front-end pages. The 401 and 403 bodies are the ones of fact sheet §1.3; the 404, 413, 429, 503 and 504
// pages are shaped the same way with the documented messages (their exact bodies are unconfirmed, §7 item 1).
const pageFmt = "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>%d %s</title>\n" +
	"</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: %s</h1>\n<h2>%s</h2>\n<h2></h2>\n</body></html>"

// WWWAuthenticate is the header of every 401 (§1.3; unconfirmed, verbatim in third-party notes).
const WWWAuthenticate = `Bearer error="invalid_token" error_description="The access token could not be verified"`

// refusal is one of the front end's own answers; the request never reaches the service.
type refusal struct {
	status int
	// log is what Cloud Run's request log says, for gcpsim's own log (and tests).
	log string
}

var (
	refuseNoToken = refusal{http.StatusForbidden,
		"The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header."}
	refuseNotInvoker = refusal{http.StatusForbidden, "The request was not authorized to invoke this service."}
	refuseNotFound   = refusal{http.StatusNotFound, "not delivered: reserved path, method or upgrade"}
	refuseTooLarge   = refusal{http.StatusRequestEntityTooLarge, "HTTP/1 request body over 32 MiB"}
	refuseNoInstance = refusal{http.StatusTooManyRequests,
		"The request was aborted because there was no available instance."}
	refuseTimeout = refusal{http.StatusGatewayTimeout,
		"The request has been terminated because it has reached the maximum request timeout."}
	refuseUnreachable = refusal{http.StatusServiceUnavailable,
		"The request failed because either the HTTP response was malformed or connection to the instance had an error."}
)

// refuseToken is a 401 for a token that is present but invalid; why is logged, never sent.
func refuseToken(why string) refusal {
	return refusal{http.StatusUnauthorized, "The request was not authorized to invoke this service. The access token could not be verified. (" + why + ")"}
}

// write answers with Google's page for the refusal.
func (f refusal) write(w http.ResponseWriter, path string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Referrer-Policy", "no-referrer")
	if f.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", WWWAuthenticate)
	}
	body := Page(f.status, path)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.status)
	io.WriteString(w, body)
}

// Page returns the body Google's front end sends with status for a request to path.
func Page(status int, path string) string {
	code := "<code>" + html.EscapeString(path) + "</code>"
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf(pageFmt, status, "Unauthorized", "Unauthorized", "Your client does not have permission to the requested URL "+code+".")
	case http.StatusForbidden:
		return fmt.Sprintf(pageFmt, status, "Forbidden", "Forbidden", "Your client does not have permission to get URL "+code+" from this server.")
	case http.StatusNotFound:
		return fmt.Sprintf(pageFmt, status, "Page not found", "Page not found", "The requested URL "+code+" was not found on this server.")
	case http.StatusRequestEntityTooLarge:
		return fmt.Sprintf(pageFmt, status, "Request Entity Too Large", "Request Entity Too Large", "Your client issued a request that was too large.")
	case http.StatusTooManyRequests:
		return fmt.Sprintf(pageFmt, status, "Too Many Requests", "Too Many Requests", "The request was aborted because there was no available instance.")
	case http.StatusGatewayTimeout:
		return fmt.Sprintf(pageFmt, status, "Gateway Timeout", "Gateway Timeout", "The request has been terminated because it has reached the maximum request timeout.")
	default:
		return fmt.Sprintf(pageFmt, status, "Service Unavailable", "Service Unavailable", "The request failed because either the HTTP response was malformed or connection to the instance had an error.")
	}
}
