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
	// between requests, once all MaxHTTPConnections are open and another
	// client is waiting: longer than a client needs to send a request it
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

var defaultHTTPLimits = httpLimits{conns: MaxHTTPConnections, readHeader: httpReadHeaderTimeout, read: httpReadTimeout,
	write: httpWriteTimeout, idle: httpIdleTimeout, grace: httpIdleGrace}

// serveHTTP starts /healthz, /readyz and /metrics on listen.
func (d *daemon) serveHTTP(listen string) (*http.Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w; choose another address or \"\" to turn HTTP off", listen, err)
	}
	srv, err := d.startHTTP(ln, defaultHTTPLimits)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d.log.Info("http listening", zap.String("addr", ln.Addr().String()), zap.Int("max_connections", MaxHTTPConnections))
	return srv, nil
}

// startHTTP serves the daemon's endpoints on ln within lim.
func (d *daemon) startHTTP(ln net.Listener, lim httpLimits) (*http.Server, error) {
	limited := newLimitListener(ln, lim.conns)
	d.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hrmd_http_connections", Help: fmt.Sprintf("HTTP connections open, this one included (at most %d).", lim.conns),
	}, func() float64 { return float64(limited.open.Load()) }))
	// What the server has to say (an accept that failed for want of
	// descriptors, a handler that panicked) goes to the daemon's log, in its
	// format, rather than as bare text on stderr.
	errorLog, err := zap.NewStdLogAt(d.log.Named("http"), zap.WarnLevel)
	if err != nil {
		return nil, fmt.Errorf("http error log: %w", err)
	}
	srv := &http.Server{
		Handler: d.httpHandler(), ErrorLog: errorLog,
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
		case d.joined.Load() != nil && d.joined.Load().notReady() != "":
			http.Error(w, d.joined.Load().notReady(), http.StatusServiceUnavailable)
		case !d.inboxOK.usable():
			http.Error(w, "the inbox is not usable: "+d.inboxOK.reason(), http.StatusServiceUnavailable)
		case d.stuck.len() > 0:
			http.Error(w, fmt.Sprintf("%d files cannot be written to the outbox or failed/ (%v); they wait in work/ and are tried again",
				d.stuck.len(), d.stuck.lastError()), http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, d.readyText())
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// limitListener accepts a connection only while fewer than cap(slots) are
// open. It takes a slot before it accepts, so the connections past the limit
// stay in the kernel's backlog and hold no descriptor of the daemon's.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	open      atomic.Int64 // accepted and not yet closed: the gauge
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done: // waiting for a slot must not keep the server from closing
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	l.open.Add(1)
	// The count drops before the slot is given back, so the gauge never
	// shows more than the limit.
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { l.open.Add(-1); <-l.slots })}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back when it is closed (once, however often Close
// is called).
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// loading is /readyz's answer, and STATUS=, during the first load: with
// the stage running, as a TensorRT build takes minutes.
func (d *daemon) loading() string {
	if q := d.opts.Config.Queue; q.Role != "" && d.joined.Load() == nil {
		return "joining the fleet: waiting for the queue's servers (" + strings.Join(q.Servers, ", ") + ")"
	}
	if stage := d.progress.describe(); stage != "" {
		return "loading the model: " + stage
	}
	return "loading the model"
}

// readyText is /readyz's 200 answer: ready, or degraded and why (hrmd
// answers, on the CPU of a Jetson configured for its GPU); then what a
// reload is doing, if one is.
func (d *daemon) readyText() string {
	text := "ready"
	if deg := d.degraded.Load(); deg != nil {
		text = "degraded: " + deg.Reason
	}
	if stage := d.progress.describe(); stage != "" {
		text += "\nreloading: " + stage
	}
	return text
}
