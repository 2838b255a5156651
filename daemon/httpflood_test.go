package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/internal/testenv"
)

// A flood of connections that do nothing, from any local user, must not
// keep a health check from its answer: with 200 idle connections (half
// after a request, half before one) and 40 that send a request's header a
// byte at a time, all of them reconnecting whenever the server closes them,
// fresh connections still get /healthz, /readyz and /metrics answered, and
// the server never holds more than its limit of connections. The server's
// own timeouts are an hour here, so what is tested is that the flood cannot
// hold the connection slots, not how soon they time out.
func TestHTTPAnswersUnderConnectionFlood(t *testing.T) {
	d := &daemon{log: zap.NewNop(), metrics: newMetrics(), progress: newLoadProgress(zap.NewNop(), time.Now)}
	d.inboxOK = newInboxHealth(d.metrics.inboxLost)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: ln}
	lim := defaultHTTPLimits()
	lim.readHeader, lim.read, lim.write, lim.idle = time.Hour, time.Hour, time.Hour, time.Hour
	srv, err := d.startHTTP(counted, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := ln.Addr().String()
	f := startFlood(addr, 200, 40)
	defer f.close()
	testenv.WaitFor(t, time.Minute, "every flooding client connected and the server full", func() bool {
		return f.clients.Load() == 240 && counted.open.Load() >= int64(lim.conns)
	})
	for i := range 5 {
		c := dialProbe(t, addr)
		if code, body := c.get("/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Fatalf("probe %d: /healthz %d %q", i, code, body)
		}
		if code, body := c.get("/readyz"); code != http.StatusServiceUnavailable ||
			!strings.Contains(body, "loading the model") {
			t.Fatalf("probe %d: /readyz %d %q, want 503 loading the model", i, code, body)
		}
		code, body := c.get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("probe %d: /metrics %d", i, code)
		}
		if open := gauge(body, "hrmd_http_connections"); open < 1 || open > lim.conns {
			t.Errorf("probe %d: hrmd_http_connections %d, want 1 to %d", i, open, lim.conns)
		}
		c.Close()
	}
	if peak := counted.peakOpen(); peak > int64(lim.conns) {
		t.Errorf("the server held %d connections at once, over its limit of %d", peak, lim.conns)
	}
	if f.closedByServer.Load() == 0 {
		t.Errorf("the server closed none of the flood's connections: the test did not test the limit")
	}
}

// gauge is a sample's value on a /metrics page (-1 if absent).
func gauge(page, name string) int {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.Atoi(v)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

type probeConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialProbe(t *testing.T, addr string) *probeConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Generous: it bounds a test that hangs (a server whose slots the flood
	// holds never answers), it times nothing.
	c.SetDeadline(time.Now().Add(time.Minute))
	return &probeConn{t: t, Conn: c, r: bufio.NewReader(c)}
}

func (c *probeConn) get(path string) (int, string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hrmd\r\n\r\n", path); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// countingListener counts the connections the server holds: accepted and
// not yet closed.
type countingListener struct {
	net.Listener
	open atomic.Int64
	mu   sync.Mutex
	peak int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	l.mu.Lock()
	l.peak = max(l.peak, n)
	l.mu.Unlock()
	return &countedConn{Conn: c, close: sync.OnceFunc(func() { l.open.Add(-1) })}, nil
}

func (l *countingListener) peakOpen() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

type countedConn struct {
	net.Conn
	close func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.close()
	return err
}

// flood is clients that hold connections and do nothing useful with them,
// each connecting again as soon as the server closes its connection.
type flood struct {
	addr           string
	stop           chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	live           map[net.Conn]bool
	clients        atomic.Int64 // clients connected at least once
	closedByServer atomic.Int64
}

// startFlood starts idle clients (half send a request first, then keep the
// connection; half never send a byte) and slow ones (a header a byte at a
// time, never ending).
func startFlood(addr string, idle, slow int) *flood {
	f := &flood{addr: addr, stop: make(chan struct{}), live: map[net.Conn]bool{}}
	for i := range idle + slow {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			first := true
			for f.connect(func(c net.Conn) {
				if first {
					f.clients.Add(1)
					first = false
				}
				switch {
				case i >= idle:
					f.trickle(c)
				case i%2 == 0:
					fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: hrmd\r\n\r\n")
					f.idle(c)
				default:
					f.idle(c)
				}
			}) {
			}
		}()
	}
	return f
}

// connect runs hold on a new connection; false once the flood stops.
func (f *flood) connect(hold func(net.Conn)) bool {
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		select {
		case <-f.stop:
			return false
		case <-time.After(10 * time.Millisecond): // a refused dial: again, not in a tight loop
			return true
		}
	}
	f.mu.Lock()
	select {
	case <-f.stop:
		f.mu.Unlock()
		c.Close()
		return false
	default:
	}
	f.live[c] = true
	f.mu.Unlock()
	hold(c)
	f.mu.Lock()
	delete(f.live, c)
	f.mu.Unlock()
	c.Close()
	select {
	case <-f.stop:
		return false
	default:
		f.closedByServer.Add(1)
		return true
	}
}

// idle reads (a response, if a request was sent) until the server closes
// the connection.
func (f *flood) idle(c net.Conn) {
	io.Copy(io.Discard, c)
}

// trickle sends a header that never ends, a byte every 20 ms, until the
// server closes the connection.
func (f *flood) trickle(c net.Conn) {
	header := "GET /healthz HTTP/1.1\r\nHost: hrmd\r\n"
	for i := 0; ; i++ {
		if i >= len(header) {
			header += "X-Slow: 1\r\n"
		}
		if _, err := c.Write([]byte{header[i]}); err != nil {
			return
		}
		select {
		case <-f.stop:
			return
		case <-time.After(20 * time.Millisecond): // the attacker's pace
		}
	}
}

func (f *flood) close() {
	f.mu.Lock()
	close(f.stop)
	for c := range f.live {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
