package daemon_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// httpConn is a raw connection to the daemon's HTTP server, so that a test
// decides when it is opened, used and closed (an http.Client would pool it).
type httpConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialHTTP(t *testing.T, p *hrmdtest.Daemon) *httpConn {
	t.Helper()
	addr := p.WaitEvent("http_listening", 1, 60*time.Second).Fields["addr"].(string)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Generous: it bounds a test that hangs, it times nothing.
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &httpConn{t: t, Conn: c, r: bufio.NewReader(c)}
}

// send writes a keep-alive GET for path.
func (c *httpConn) send(path string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hrmd\r\n\r\n", path); err != nil {
		c.t.Fatal(err)
	}
}

// response reads the answer to a GET sent.
func (c *httpConn) response() (int, string, error) {
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (c *httpConn) get(path string) string {
	c.t.Helper()
	c.send(path)
	code, body, err := c.response()
	if err != nil || code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %q %v", path, code, body, err)
	}
	return body
}

// The server closes a connection that lingers, after a request (a keep-alive
// a client forgot) or before one (a client that never speaks), so lingering
// clients cannot pile up descriptors.
func TestHTTPClosesIdleConnections(t *testing.T) {
	p := newSpool(t, nil).startInProcess()
	for _, tt := range []struct {
		name  string
		first string // a path to GET first, or "" to send nothing
	}{
		{"keep-alive after a request", "/healthz"},
		{"nothing sent", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialHTTP(t, p.Daemon)
			if tt.first != "" {
				c.get(tt.first)
			}
			// The state waited for: the server's end of the connection.
			if n, err := c.r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("read %d bytes, %v: want the server to close the idle connection", n, err)
			}
		})
	}
}

// Past daemon.MaxHTTPConnections open connections the server takes no more:
// a further one is served once another has closed (here: the held one that
// has been idle longest, closed to make room), and /metrics, served to it,
// counts at most the limit open. Without the limit it would be served next
// to all the held ones, counting one more.
func TestHTTPConnectionLimit(t *testing.T) {
	p := newSpool(t, nil).startInProcess()
	for range daemon.MaxHTTPConnections {
		dialHTTP(t, p.Daemon).get("/healthz") // accepted and kept alive: it holds a place
	}
	extra := dialHTTP(t, p.Daemon) // connected, but waiting in the backlog
	extra.send("/metrics")
	code, body, err := extra.response()
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics on the connection past the limit: %d %v", code, err)
	}
	open := -1
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "hrmd_http_connections "); ok {
			open, _ = strconv.Atoi(v)
		}
	}
	if open < 1 || open > daemon.MaxHTTPConnections {
		t.Errorf(
			"hrmd_http_connections %d when the connection past the limit was served, want 1 to %d",
			open,
			daemon.MaxHTTPConnections,
		)
	}
}

// What net/http logs goes into the daemon's own log, as JSON: here the
// accept that fails once the process has no descriptor left, the failure a
// flood of connections used to cause.
func TestHTTPErrorsInDaemonLog(t *testing.T) {
	p := newSpool(t, nil).start()
	p.WaitEvent("ready", 1, 60*time.Second)
	pid := p.Pid()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// Stdin, stdout and stderr only: every new descriptor fails.
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 3, Max: old.Max}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil) })
	dialHTTP(t, p).send("/healthz")
	testenv.WaitFor(t, 60*time.Second, "the failed accept in the log", func() bool {
		for _, l := range p.Lines() {
			if msg, _ := l.Fields["msg"].(string); l.Event() == "http_error" && strings.HasPrefix(msg, "http: Accept error") {
				if l.Fields["level"] != "warn" || l.Fields["logger"] != "http" || !strings.Contains(msg, "too many open files") {
					t.Fatalf("log line %v", l)
				}
				return true
			}
		}
		return false
	})
}
