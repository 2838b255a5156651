// Package queue is hrmd's client of a NATS JetStream cluster in fleet mode
// (docs/fleet.md): the connection, the two streams and their consumers, and
// the messages a gateway and its workers exchange. The cluster is NATS's;
// nothing here is a protocol of hrmd's own beyond a few message headers.
// It knows nothing of spools or models: package daemon drives it.
package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Config is what the client needs of hrmd.yaml's queue: section.
type Config struct {
	Servers []string
	// Name is this hrmd in the fleet: the client's name on the servers, the
	// worker named in its answers, and a gateway's answers subject.
	Name                                      string
	Credentials, NKey, TLSCA, TLSCert, TLSKey string
	// Subject is the subjects' prefix: <Subject>.puzzles.<id> and <Subject>.answers.<gateway>.<id>.
	Subject                        string
	Stream, AnswersStream          string
	Replicas                       int
	AckWait                        time.Duration
	MaxAckPending                  int
	DuplicateWindow, AnswersMaxAge time.Duration
	// MaxPuzzleBytes is the largest task file a gateway takes
	// (watch.max_file_bytes): the puzzles stream and the servers' max_payload
	// must carry it.
	MaxPuzzleBytes int64
	// PingInterval is how often the client asks its server whether it is
	// still there (queue.ping_interval): a server that misses two in a
	// row is left for another. A hung server (SIGSTOP, a power cut, a
	// pulled cable: nothing resets the connection) is noticed only so.
	PingInterval time.Duration
}

// maxPingsOut is how many of the client's pings may go unanswered before
// it takes its server for dead: nats.go's default, kept, so that the
// ping interval alone says how long a hung server holds its clients (two
// to three intervals).
const maxPingsOut = 2

// headerRoom is what a message's headers may take beside its body.
const headerRoom = 64 << 10

// Client is one connection to the cluster.
type Client struct {
	cfg Config
	log *zap.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	closing atomic.Bool   // Close was called: the disconnect it causes is no news
	lost    chan struct{} // closed when nats.go closed the connection for good

	mu        sync.Mutex
	connected bool
	since     time.Time // of the last change
	lastErr   error     // the latest reason the connection is down (or could not be made)
}

// Connect starts connecting to cfg's servers and returns at once: the
// connection is made, and remade after a server is lost, in the
// background, for as long as the client is open (Ready waits for it).
// onChange, if not nil, hears each connect and disconnect.
func Connect(cfg Config, log *zap.Logger, onChange func(connected bool)) (*Client, error) {
	c := &Client{cfg: cfg, log: log, since: time.Now(), lost: make(chan struct{})}
	opts, err := c.options(onChange)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(cfg.Servers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(cfg.Servers, ", "), err)
	}
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return c, nil
}

// options are the connection's: never give up reconnecting, not even on
// a refused key (an operator may fix the server's authorization while hrmd
// runs), back off up to a few seconds, notice a hung server within a few
// pings, authenticate and encrypt as configured, and say everything
// through the daemon's log.
func (c *Client) options(onChange func(bool)) ([]nats.Option, error) {
	changed := func(up bool, err error) {
		c.mu.Lock()
		c.connected, c.since = up, time.Now()
		if err != nil {
			c.lastErr = err
		}
		c.mu.Unlock()
		if onChange != nil {
			onChange(up)
		}
	}
	opts := []nats.Option{
		nats.Name("hrmd " + c.cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		// Without it nats.go closes the connection for good after the
		// same authorization error twice from one server: a key revoked
		// and restored, or a server fixed after hrmd started with a
		// refused key, would leave hrmd running and never connected.
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ConnectHandler(func(nc *nats.Conn) {
			c.log.Info("queue: connected", zap.String("event", "queue_connected"),
				zap.String("server", nc.ConnectedUrlRedacted()))
			changed(true, nil)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("queue: reconnected", zap.String("event", "queue_reconnected"),
				zap.String("server", nc.ConnectedUrlRedacted()))
			changed(true, nil)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if c.closing.Load() {
				return
			}
			c.log.Warn("queue: disconnected; reconnecting", zap.Error(err))
			changed(false, err)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { c.setErr(err) }),
		nats.ErrorHandler(c.asyncError),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if c.closing.Load() {
				return
			}
			c.setErr(nc.LastError())
			c.log.Error("queue: nats.go closed the connection for good", zap.Error(nc.LastError()))
			close(c.lost)
		}),
	}
	if c.cfg.PingInterval > 0 {
		opts = append(opts, nats.PingInterval(c.cfg.PingInterval), nats.MaxPingsOutstanding(maxPingsOut))
	}
	if c.cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(c.cfg.Credentials))
	}
	if c.cfg.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(c.cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("queue.nkey %s: %w", c.cfg.NKey, err)
		}
		opts = append(opts, o)
	}
	if c.cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.cfg.TLSCA))
	}
	if c.cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.cfg.TLSCert, c.cfg.TLSKey))
	}
	return opts, nil
}

// asyncError hears what nats.go reports outside any call: a refused key
// while it reconnects, a permission or slow consumer error. Without a
// handler nats.go prints these to stderr, a plain line in a JSON log.
func (c *Client) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil {
		c.log.Warn("queue: error on a subscription", zap.String("subject", sub.Subject), zap.Error(err))
		return
	}
	c.log.Warn("queue: error from the server", zap.Error(err))
	c.setErr(err)
}

// setErr keeps err as the latest reason the connection is down.
func (c *Client) setErr(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// reconnectDelay backs off from a tenth of a second to five seconds, with
// jitter, so that a fleet does not reconnect in step after a server restart.
func reconnectDelay(attempts int) time.Duration {
	d := min(100*time.Millisecond<<min(attempts, 6), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Close ends the connection.
func (c *Client) Close() {
	c.closing.Store(true)
	c.nc.Close()
}

// Lost is closed when nats.go has closed the connection for good (not
// by Close): nothing will reconnect it, and the daemon stops so that its
// service manager starts it afresh.
func (c *Client) Lost() <-chan struct{} { return c.lost }

// Connected says whether the client is connected now, and if not, since
// when and why: the latest reason, not the first (a disconnect's EOF is
// followed by the refused certificate or key that keeps it down).
func (c *Client) Connected() (bool, string) {
	if c.nc.IsConnected() {
		return true, ""
	}
	// nats.go reports a failed TLS handshake (a server certificate the
	// CA does not vouch for) to no handler: it keeps it as its last error
	// until the next attempt.
	c.setErr(c.nc.LastError())
	c.mu.Lock()
	defer c.mu.Unlock()
	why := fmt.Sprintf(
		"not connected to any of %s since %s",
		strings.Join(c.cfg.Servers, ", "),
		c.since.UTC().Format(time.RFC3339),
	)
	if c.lastErr != nil {
		why += " (" + c.lastErr.Error() + ")"
	}
	return false, why
}

// Ready waits until the cluster's JetStream answers, logging every
// interval what it waits for, and checks that the servers carry messages
// as large as the largest puzzle. It returns ctx's error if it ends first.
// A cluster without JetStream is refused, not waited for: servers that
// answer but have none are misconfigured, and no retry mends them.
func (c *Client) Ready(ctx context.Context, interval time.Duration) error {
	next := time.Now().Add(interval)
	var noJetStream time.Time // since when connected servers have said they have none
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.js.AccountInfo(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.nc.IsClosed() {
			_, why := c.Connected()
			return fmt.Errorf("the connection was closed for good: %s", why)
		}
		if refused := c.noJetStream(err, &noJetStream); refused != nil {
			return refused
		}
		if time.Now().After(next) {
			_, why := c.Connected()
			c.log.Warn("queue: waiting for JetStream", zap.String("servers", strings.Join(c.cfg.Servers, ", ")),
				zap.String("connection", why), zap.Error(err))
			next = time.Now().Add(interval)
		}
		if !Sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
	if need := c.cfg.MaxPuzzleBytes + headerRoom; c.nc.MaxPayload() < need {
		return &RefusedError{What: "server " + c.nc.ConnectedUrlRedacted(), Why: fmt.Sprintf(
			"its max_payload is %d bytes, but a puzzle can take %d (watch.max_file_bytes %d and headers): set max_payload: "+
				"8MB in every nats-server's config, or lower watch.max_file_bytes",
			c.nc.MaxPayload(),
			need,
			c.cfg.MaxPuzzleBytes,
		)}
	}
	return nil
}

// noJetStreamFor is how long servers must go on saying they have no
// JetStream before hrmd believes them: nobody answering JetStream's API
// reads the same as JetStream disabled, and a cluster just started may
// be without its JetStream for a moment.
const noJetStreamFor = 5 * time.Second

// noJetStream is a refusal when err says the account has no JetStream
// (the server answered so: at once), or that no server of the cluster
// runs it, which hrmd believes once it has heard it for noJetStreamFor;
// since is when that began (zero: not now).
func (c *Client) noJetStream(err error, since *time.Time) error {
	refuse := func() error {
		return &RefusedError{
			What: "server " + c.nc.ConnectedUrlRedacted(),
			Why: "JetStream is not enabled on it or on any server of its cluster (" + err.Error() +
				"): give every nats-server a jetstream { store_dir: ... } block, as systemd/nats-server.conf has, and enable " +
				"JetStream for the account queue.credentials or queue.nkey logs into",
		}
	}
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return refuse()
	case !errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		*since = time.Time{}
	case since.IsZero():
		*since = time.Now()
	case time.Since(*since) >= noJetStreamFor:
		return refuse()
	}
	return nil
}

// RefusedError is a cluster whose settings would lose work or cannot carry
// it: hrmd does not start on it.
type RefusedError struct{ What, Why string }

func (e *RefusedError) Error() string { return e.What + ": " + e.Why }

// IsRefused reports whether err is a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Sleep waits d, or less if ctx ends; it reports whether ctx is still live.
// The fleet's loops wait with it between requests to the cluster.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
