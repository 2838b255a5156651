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
	Subject                                   string // subjects are <Subject>.puzzles.<id> and <Subject>.answers.<gateway>.<id>
	Stream, AnswersStream                     string
	Replicas                                  int
	AckWait                                   time.Duration
	MaxAckPending                             int
	DuplicateWindow, AnswersMaxAge            time.Duration
	// MaxPuzzleBytes is the largest task file a gateway takes
	// (watch.max_file_bytes): the puzzles stream and the servers' max_payload
	// must carry it.
	MaxPuzzleBytes int64
}

// headerRoom is what a message's headers may take beside its body.
const headerRoom = 64 << 10

// Client is one connection to the cluster.
type Client struct {
	cfg Config
	log *zap.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	closing atomic.Bool // Close was called: the disconnect it causes is no news

	mu        sync.Mutex
	connected bool
	since     time.Time // of the last change
	lastErr   error
}

// Connect starts connecting to cfg's servers and returns at once: the
// connection is made, and remade after a server is lost, in the
// background, for as long as the client is open (Ready waits for it).
// onChange, if not nil, hears each connect and disconnect.
func Connect(cfg Config, log *zap.Logger, onChange func(connected bool)) (*Client, error) {
	c := &Client{cfg: cfg, log: log, since: time.Now()}
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

// options are the connection's: never give up reconnecting, back off up to
// a few seconds, and authenticate and encrypt as configured.
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
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ConnectHandler(func(nc *nats.Conn) {
			c.log.Info("queue: connected", zap.String("server", nc.ConnectedUrlRedacted()))
			changed(true, nil)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("queue: reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
			changed(true, nil)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if c.closing.Load() {
				return
			}
			c.log.Warn("queue: disconnected; reconnecting", zap.Error(err))
			changed(false, err)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
		}),
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

// Connected says whether the client is connected now, and if not, since
// when and why.
func (c *Client) Connected() (bool, string) {
	if c.nc.IsConnected() {
		return true, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	why := fmt.Sprintf("not connected to any of %s since %s", strings.Join(c.cfg.Servers, ", "), c.since.UTC().Format(time.RFC3339))
	if c.lastErr != nil {
		why += " (" + c.lastErr.Error() + ")"
	}
	return false, why
}

// Ready waits until the cluster's JetStream answers, logging every
// interval what it waits for, and checks that the servers carry messages
// as large as the largest puzzle. It returns ctx's error if it ends first.
func (c *Client) Ready(ctx context.Context, interval time.Duration) error {
	next := time.Now().Add(interval)
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
			"its max_payload is %d bytes, but a puzzle can take %d (watch.max_file_bytes %d and headers): set max_payload: 8MB in every nats-server's config, or lower watch.max_file_bytes",
			c.nc.MaxPayload(), need, c.cfg.MaxPuzzleBytes)}
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
