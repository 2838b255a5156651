package queue

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
)

// ClientConfig is the client's configuration from hrmd.yaml's queue:
// section; maxPuzzle is watch.max_file_bytes.
func ClientConfig(q config.Queue, name string, maxPuzzle int64) Config {
	return Config{
		Servers:         q.Servers,
		Name:            name,
		Credentials:     q.Credentials,
		NKey:            q.NKey,
		TLSCA:           q.TLSCA,
		TLSCert:         q.TLSCert,
		TLSKey:          q.TLSKey,
		Subject:         q.Subject,
		Stream:          q.Stream,
		AnswersStream:   q.AnswersStream,
		Replicas:        q.Replicas,
		AckWait:         time.Duration(q.AckWait),
		MaxAckPending:   q.MaxAckPending,
		DuplicateWindow: time.Duration(q.DuplicateWindow),
		AnswersMaxAge:   time.Duration(q.AnswersMaxAge),
		MaxPuzzleBytes:  maxPuzzle,
		PingInterval:    time.Duration(q.PingInterval),
	}
}

// ProbeServer connects to one server of cfg's queue.servers as a fleet
// member would (its credentials, nkey and TLS) and waits, for at most
// timeout, for its JetStream to answer and its max_payload to carry the
// largest puzzle (hrmd doctor).
func ProbeServer(cfg config.Config, server string, timeout time.Duration) error {
	q := cfg.Queue
	qc := ClientConfig(q, q.MemberName("doctor"), cfg.Limits().Bytes)
	qc.Servers = []string{server}
	c, err := Connect(qc, zap.NewNop(), nil)
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
	return errors.New(
		"connected, but JetStream did not answer within " + timeout.String() + ": is jetstream on in the server's config, " +
			"and does the account have it?",
	)
}
