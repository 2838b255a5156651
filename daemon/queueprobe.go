package daemon

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/queue"
)

// ProbeQueueServer connects to one server of cfg's queue.servers as a
// fleet member would (its credentials, nkey and TLS) and waits, for at most
// timeout, for its JetStream to answer and its max_payload to carry the
// largest puzzle (hrmd doctor).
func ProbeQueueServer(cfg Config, server string, timeout time.Duration) error {
	q := cfg.Queue
	qc := q.client(q.name("doctor"), cfg.Limits().Bytes)
	qc.Servers = []string{server}
	c, err := queue.Connect(qc, zap.NewNop(), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = c.Ready(ctx, timeout)
	if err == nil || ctx.Err() == nil {
		return err
	}
	if up, why := c.Connected(); !up {
		return errors.New(why)
	}
	return errors.New("connected, but JetStream did not answer within " + timeout.String() + ": is jetstream on in the server's config, and does the account have it?")
}
