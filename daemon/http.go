package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// MaxHTTPConnections is how many HTTP connections the daemon holds open at
// once: a bound on the descriptors HTTP can take from the inbox, the spool
// and the model however many clients come. Its clients are a Prometheus
// scraper and a few health checks; the room past them is for a flood of
// connections that do nothing (any local user can open hundreds), which is
// closed oldest first so that a health check waits behind it for a fraction
// of a second, not until each idles out (httpIdleGrace).
const MaxHTTPConnections = 64

// The HTTP server's time limits. Every request is a GET answered from memory
// in milliseconds, so these only ever end clients that stall or linger; none
// is configurable, for no client needs more.
const (
	httpReadHeaderTimeout = 5 * time.Second // a connection that says nothing is closed
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 10 * time.Second // a client that does not read /metrics
	// A health check every second or two keeps its connection; one that went
	// away, or a scraper every 15 s or more, gives the descriptor back soon.
	httpIdleTimeout = 5 * time.Second
	// httpIdleGrace is how long a connection may wait for its request, or
	// between requests, once all MaxHTTPConnections are open: longer than a client needs to send a request it
	// has ready (a health check sends it as it connects), short enough that
	// a backlog of 200 idle connections moves in a fraction of a second.
	httpIdleGrace = 100 * time.Millisecond
)

// httpLimits are the HTTP server's bounds: the constants above, which a
// test lengthens to show what holds without the server's own timeouts.
type httpLimits struct {
	conns                                int
	readHeader, read, write, idle, grace time.Duration
}

func defaultHTTPLimits() httpLimits {
	return httpLimits{conns: MaxHTTPConnections, readHeader: httpReadHeaderTimeout, read: httpReadTimeout,
		write: httpWriteTimeout, idle: httpIdleTimeout, grace: httpIdleGrace}
}

// serveHTTP starts /healthz, /readyz and /metrics on listen.
func (d *daemon) serveHTTP(listen string) (*http.Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w; choose another address or \"\" to turn HTTP off", listen, err)
	}
	srv, err := d.startHTTP(ln, defaultHTTPLimits())
	if err != nil {
		ln.Close()
		return nil, err
	}
	d.log.Info("http listening", zap.String("event", "http_listening"),
		zap.String("addr", ln.Addr().String()), zap.Int("max_connections", MaxHTTPConnections))
	return srv, nil
}

// startHTTP serves the daemon's endpoints on ln within lim.
func (d *daemon) startHTTP(ln net.Listener, lim httpLimits) (*http.Server, error) {
	limited := newConnLimiter(ln, lim.conns, lim.grace)
	d.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hrmd_http_connections", Help: fmt.Sprintf("HTTP connections open, this one included (at most %d).", lim.conns),
	}, func() float64 { return float64(limited.open.Load()) }))
	// What the server has to say (an accept that failed for want of
	// descriptors, a handler that panicked) goes to the daemon's log, in its
	// format, rather than as bare text on stderr.
	errorLog, err := zap.NewStdLogAt(d.log.Named("http").With(zap.String("event", "http_error")), zap.WarnLevel)
	if err != nil {
		return nil, fmt.Errorf("http error log: %w", err)
	}
	srv := &http.Server{
		Handler: d.httpHandler(), ErrorLog: errorLog, ConnState: limited.track,
		ReadHeaderTimeout: lim.readHeader, ReadTimeout: lim.read, WriteTimeout: lim.write, IdleTimeout: lim.idle,
	}
	go func() {
		if err := srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", zap.Error(err))
		}
	}()
	return srv, nil
}

func (d *daemon) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case d.stopping.Load():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case !d.ready.Load():
			http.Error(w, d.loading(), http.StatusServiceUnavailable)
		default:
			why, ready := notReady(d.conditions())
			if why != "" {
				http.Error(w, why, http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, d.readyText(ready))
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// connLimiter holds at most max connections open. Once they are all open,
// it makes room for the next client by closing the connection that has
// waited longest for a request (before its first, or between two), once
// that wait passes grace; a connection whose request is being served is
// never closed. So a flood of connections that do nothing cannot hold the
// slots: a health check behind it waits for the backlog to move at max
// connections per grace, and its own request, sent as it connects, is
// served before grace runs out. Accepting waits only while every open
// connection is being served or has waited less than grace, the rest
// staying in the kernel's backlog at no cost to the daemon.
type connLimiter struct {
	net.Listener
	max   int
	grace time.Duration
	open  atomic.Int64 // accepted and not yet closed: the gauge

	mu      sync.Mutex
	conns   map[*limitedConn]struct{}
	changed chan struct{} // a connection closed or went idle (one pending signal)
	done    chan struct{}
	closing sync.Once
}

func newConnLimiter(ln net.Listener, n int, grace time.Duration) *connLimiter {
	return &connLimiter{Listener: ln, max: n, grace: grace, conns: map[*limitedConn]struct{}{},
		changed: make(chan struct{}, 1), done: make(chan struct{})}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	if err := l.room(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l, waiting: time.Now()}
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.open.Store(int64(len(l.conns)))
	l.mu.Unlock()
	return lc, nil
}

// room returns once fewer than max connections are open, closing the one
// that has waited longest for a request once its wait passes grace.
func (l *connLimiter) room() error {
	for {
		l.mu.Lock()
		full := len(l.conns) >= l.max
		wait := l.grace // every connection is being served: one will go idle or close
		oldest := l.longestWaiting()
		if oldest != nil {
			wait = l.grace - time.Since(oldest.waiting)
		}
		l.mu.Unlock()
		switch {
		case !full:
			return nil
		case oldest != nil && wait <= 0:
			oldest.Close()
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-l.changed:
		case <-timer.C:
		case <-l.done: // waiting for room must not keep the server from closing
			timer.Stop()
			return net.ErrClosed
		}
		timer.Stop()
	}
}

// longestWaiting is the open connection that has waited longest for a
// request, nil if all are being served; l.mu is held.
func (l *connLimiter) longestWaiting() *limitedConn {
	var oldest *limitedConn
	for c := range l.conns {
		if !c.serving && (oldest == nil || c.waiting.Before(oldest.waiting)) {
			oldest = c
		}
	}
	return oldest
}

// track is the server's ConnState hook: net/http reports a connection
// active once it has read a request's header, idle once it has answered.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	switch state {
	case http.StateActive:
		lc.serving = true
	case http.StateIdle:
		lc.serving, lc.waiting = false, time.Now()
	}
	l.mu.Unlock()
	if state == http.StateIdle {
		l.signal()
	}
}

func (l *connLimiter) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *connLimiter) Close() error {
	err := l.Listener.Close()
	l.closing.Do(func() { close(l.done) })
	return err
}

// limitedConn leaves the limiter's count when it is closed (once, however
// often Close is called, by the server or to make room).
type limitedConn struct {
	net.Conn
	l       *connLimiter
	serving bool      // a request is being served; l.mu guards it and waiting
	waiting time.Time // since when it waits for a request
	closed  sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.open.Store(int64(len(c.l.conns)))
		c.l.mu.Unlock()
		c.l.signal()
	})
	return err
}

// loading is /readyz's answer, and STATUS=, during the first load: with
// the stage running, as a TensorRT build takes minutes.
func (d *daemon) loading() string {
	if q := d.opts.Config.Queue; q.Role != "" && !d.joined.Load() {
		return "joining the fleet: waiting for the queue's servers (" + strings.Join(q.Servers, ", ") + ")"
	}
	if stage := d.progress.describe(); stage != "" {
		return "loading the model: " + stage
	}
	return "loading the model"
}

// readyText is /readyz's 200 answer: ready, or degraded and why (hrmd
// answers, on the CPU of a Jetson configured for its GPU), as the
// conditions say; then what a reload is doing, if one is.
func (d *daemon) readyText(text string) string {
	if stage := d.progress.describe(); stage != "" {
		text += "\nreloading: " + stage
	}
	return text
}
