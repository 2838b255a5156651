package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hrmd/hrmd/daemon"
)

// clients keep connections to addr, each doing its part with one until
// the daemon closes it, then connecting again, until close.
type clients struct {
	addr      string
	stop      chan struct{}
	wg        sync.WaitGroup
	connected atomic.Int64 // connections made, in all
	mu        sync.Mutex
	live      map[net.Conn]bool
}

func newClients(addr string) *clients {
	return &clients{addr: addr, stop: make(chan struct{}), live: map[net.Conn]bool{}}
}

func (c *clients) stopped() bool { return closed(c.stop) }

// start runs one client: use holds each connection it makes, returning
// once the connection ended (or close ended it).
func (c *clients) start(use func(net.Conn)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for !c.stopped() {
			conn, err := net.DialTimeout("tcp", c.addr, 30*time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond) // a refused connection: try again, not in a tight loop
				continue
			}
			c.mu.Lock()
			if c.stopped() {
				c.mu.Unlock()
				conn.Close()
				return
			}
			c.live[conn] = true
			c.mu.Unlock()
			c.connected.Add(1)
			use(conn)
			c.mu.Lock()
			delete(c.live, conn)
			c.mu.Unlock()
			conn.Close()
		}
	}()
}

func (c *clients) close() {
	c.mu.Lock()
	if !c.stopped() {
		close(c.stop)
	}
	for conn := range c.live {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// idlers are HTTP clients that connect and then do nothing: half send one
// request and keep the connection alive, half never say a word. When the
// daemon closes one, it connects again.
type idlers struct {
	*clients
	served atomic.Int64 // requests answered
	closed atomic.Int64 // connections the daemon closed
}

func openIdlers(addr string, n int) *idlers {
	d := &idlers{clients: newClients(addr)}
	for i := range n {
		request := i%2 == 0
		d.start(func(conn net.Conn) { d.idle(conn, request) })
	}
	return d
}

// idle holds one connection until the daemon closes it (or close does).
func (d *idlers) idle(conn net.Conn, request bool) {
	if request {
		d.request(conn)
	}
	_, err := conn.Read(make([]byte, 1))
	if err == io.EOF && !d.stopped() {
		d.closed.Add(1)
	}
}

func (d *idlers) request(conn net.Conn) {
	if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", d.addr); err != nil {
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d.served.Add(1)
}

// runKeepalive: 200 idle connections, reconnecting whenever the daemon
// closes one, while files flow. The daemon's descriptors stay within its
// connection limit, every file is answered, and once the clients go the
// descriptors come back.
func runKeepalive(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	fds, err := watchFDs(p)
	if err != nil {
		return report{}, err
	}
	defer fds.end()
	d := openIdlers(p.Addr(), e.size.conns)
	defer d.close()
	if err := p.WaitFor("the first idle connections "+
		"served", 2*time.Minute, func() bool { return d.served.Load() >= daemon.MaxHTTPConnections/2 }); err != nil {
		return report{}, err
	}
	if err := s.burst("keepalive", e.size.keepaliveFiles); err != nil {
		return report{}, err
	}
	closes := int64(e.size.idleCloses)
	if err := p.WaitFor(fmt.Sprintf("every file answered and %d connections closed by the "+
		"daemon", closes), 10*time.Minute, func() bool {
		return s.finished() >= s.m.dropped() && d.closed.Load() >= closes
	}); err != nil {
		return report{}, err
	}
	d.close()
	fds.end()
	var after int
	if err := p.WaitFor("the descriptors back", 2*time.Minute, func() bool {
		after, _ = p.fds()
		return after <= fds.base+4
	}); err != nil {
		e.problem("%v: %d open, %d before the connections", err, after, fds.base)
	}
	if limit := fds.limit(); fds.peak > limit {
		e.problem(
			"hrmd held %d descriptors with %d idle clients, over %d (%d before, %d connections allowed)",
			fds.peak,
			e.size.conns,
			limit,
			fds.base,
			daemon.MaxHTTPConnections,
		)
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{
		what:  fmt.Sprintf("%d files, %d idle connections (%d closed by the daemon)", v.files, e.size.conns, d.closed.Load()),
		v:     v,
		extra: []string{fmt.Sprintf("fds %d before, at most %d, %d after", fds.base, fds.peak, after)},
	}, nil
}

// fdWatch samples a daemon's open descriptors every 50 ms until end: base
// when it started, peak the most seen (the caller's to read after end).
type fdWatch struct {
	base, peak int
	poller     *poller
}

func watchFDs(p *hrmd) (*fdWatch, error) {
	base, err := p.fds()
	if err != nil {
		return nil, err
	}
	w := &fdWatch{base: base, peak: base}
	w.poller = poll(50*time.Millisecond, func() {
		if n, err := p.fds(); err == nil {
			w.peak = max(w.peak, n)
		}
	})
	return w, nil
}

func (w *fdWatch) end() { w.poller.end() }

// limit is the most descriptors the daemon may hold under HTTP clients:
// what it had before, its connection limit, and room for a few closing.
func (w *fdWatch) limit() int { return w.base + daemon.MaxHTTPConnections + 16 }
