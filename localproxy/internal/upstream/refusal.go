package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/runsock/runsock/localproxy/internal/tokens"
)

// frontEndRefusal turns an answer of Google's front end before the control plane — an HTML page, never runsock's
// JSON — into Docker's {"message": ...} with the same status, naming the cause and what to do, so the docker CLI
// prints something useful instead of the page. tok is the identity token the request carried.
func frontEndRefusal(resp *http.Response, tok string, base string) {
	if resp.StatusCode < 400 {
		return
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/html" {
		return
	}
	who := "your identity"
	aud := ""
	if c, err := tokens.ParseClaims(tok); err == nil {
		if c.Email != "" {
			who = c.Email
		}
		aud = c.Audience
	}
	var msg string
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		msg = fmt.Sprintf("the identity token of %s could not be verified (expired, not signed by Google, or its audience %q "+
			"is not the control plane's URL %s): check localproxy's --url and token source (gcloud auth login; "+
			"`localproxy status` shows the token's audience and expiry)", who, aud, base)
	case http.StatusForbidden:
		msg = fmt.Sprintf("%s lacks roles/run.invoker on the control plane service (%s): ask a team admin to add %s "+
			"to team_members in the runsock Terraform (or grant roles/run.invoker on the service), then retry", who, base, who)
	case http.StatusNotFound:
		msg = "this path is reserved by Cloud Run and never reaches the control plane (or the service does not exist at " + base + ")"
	case http.StatusRequestEntityTooLarge:
		msg = "the request body is over Cloud Run's 32 MiB HTTP/1 limit: the control plane service must run with " +
			"end-to-end HTTP/2 (gcloud run services update --use-http2)"
	case http.StatusTooManyRequests:
		msg = "no control plane instance was available (every instance is at its concurrency limit, Cloud Run caps 1000 " +
			"requests per instance): retry in a moment"
	case http.StatusGatewayTimeout:
		msg = "the control plane did not answer within Cloud Run's request timeout"
	default:
		msg = "the control plane's instance could not be reached (it may be starting or restarting): retry in a moment"
	}
	body, _ := json.Marshal(map[string]string{
		"message": fmt.Sprintf("Google's front end refused the request (%d): %s", resp.StatusCode, msg),
	})
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Content-Encoding")
}
