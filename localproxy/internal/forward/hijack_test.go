package forward

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// echoStdin is the control plane's hijack side as the contract says: 200, headers flushed, then stdin echoed to
// stdout as it arrives; output ends when stdin ends. The exec-start JSON prefix is echoed first as "cfg=...\n".
func echoStdin(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/nosuch/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		io.WriteString(w, `{"message":"No such container: nosuch"}`)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	var n int
	fmt.Sscan(r.Header.Get(proxyproto.StdinOffsetHeader), &n)
	cfg := make([]byte, n)
	io.ReadFull(r.Body, cfg)
	fmt.Fprintf(w, "cfg=%s proto=%s token=%s\n", cfg, r.Proto, r.Header.Get("X-Serverless-Authorization"))
	w.(http.Flusher).Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			io.WriteString(w, "stdin closed\n")
			return
		}
	}
}

// dockerHijack speaks to the socket as the docker CLI does and returns the connection after the response head.
func dockerHijack(t *testing.T, sock, path, body string) (*net.UnixConn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n%s", path, len(body), body)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn), br, resp
}

func TestHijackFullDuplexWithHalfClose(t *testing.T) {
	sock := localProxy(t, controlPlane(t, http.HandlerFunc(echoStdin)), nil)
	tests := []struct {
		name, path, body, wantCfg string
	}{
		{name: "exec start", path: "/v1.50/exec/e1/start", body: `{"Detach":false,"Tty":false}`, wantCfg: `{"Detach":false,"Tty":false}`},
		{name: "attach", path: "/v1.50/containers/c1/attach?stderr=1&stdin=1&stdout=1&stream=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, br, resp := dockerHijack(t, sock, tt.path, tt.body)
			if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "tcp" ||
				resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
				t.Fatalf("response head: %d %v", resp.StatusCode, resp.Header)
			}
			line, err := readLine(br, 5*time.Second)
			if want := fmt.Sprintf("cfg=%s proto=HTTP/2.0 token=Bearer tok-123\n", tt.wantCfg); err != nil || line != want {
				t.Fatalf("first line %q, %v; want %q", line, err, want)
			}
			// Full duplex: each line comes back before the next is sent.
			for i := 0; i < 3; i++ {
				fmt.Fprintf(conn, "line %d\n", i)
				if line, err := readLine(br, 5*time.Second); err != nil || line != fmt.Sprintf("line %d\n", i) {
					t.Fatalf("echo %d: %q, %v", i, line, err)
				}
			}
			// Half-close: stdin EOF reaches the control plane, whose output still reaches us, then EOF.
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if line, err := readLine(br, 5*time.Second); err != nil || line != "stdin closed\n" {
				t.Fatalf("after half-close: %q, %v", line, err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("want EOF after output, got %q, %v", rest, err)
			}
		})
	}
}

func TestHijackErrorIsAnOrdinaryResponse(t *testing.T) {
	sock := localProxy(t, controlPlane(t, http.HandlerFunc(echoStdin)), nil)
	_, br, resp := dockerHijack(t, sock, "/v1.50/containers/nosuch/attach?stream=1&stdout=1", "")
	body, _ := io.ReadAll(resp.Body)
	_ = br
	if resp.StatusCode != 404 || !strings.Contains(string(body), "No such container: nosuch") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestExecStartDetachIsNotHijacked(t *testing.T) {
	srv := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Body", string(b))
		w.WriteHeader(200)
	}))
	resp, err := unixClient(localProxy(t, srv, nil)).Post("http://docker/v1.50/exec/e1/start", "application/json",
		strings.NewReader(`{"Detach":true,"Tty":false}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Body") != `{"Detach":true,"Tty":false}` {
		t.Fatalf("%d body seen upstream %q", resp.StatusCode, resp.Header.Get("X-Body"))
	}
}
