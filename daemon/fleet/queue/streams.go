package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WorkersConsumer is the one durable consumer every worker shares: a
// work-queue stream allows one consumer per subject, and it is the
// consumer, not the worker, that the cluster remembers.
const WorkersConsumer = "workers"

func (c *Client) puzzleSubject(id string) string { return c.cfg.Subject + ".puzzles." + id }
func (c *Client) answerSubject(gateway, id string) string {
	return c.cfg.Subject + ".answers." + gateway + "." + id
}

// PuzzlesStreamConfig is the puzzles stream hrmd creates: a work queue (a
// puzzle is deleted once a worker acks it, which it does only after its
// answer is stored), on file, replicated, kept until answered (no age
// limit), refusing new puzzles rather than dropping old ones when full,
// carrying the largest puzzle, and remembering message ids (the claims a
// gateway publishes again after a restart) for the duplicate window.
func (c *Client) PuzzlesStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: c.cfg.Stream, Subjects: []string{c.cfg.Subject + ".puzzles.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
		Discard: jetstream.DiscardNew, MaxMsgSize: int32(min(c.cfg.MaxPuzzleBytes+headerRoom, math.MaxInt32)),
		Duplicates:  c.cfg.DuplicateWindow,
		Description: "hrmd: puzzles waiting for a worker (docs/fleet.md)",
	}
}

// AnswersStreamConfig is the answers stream: kept for answers_max_age
// whether read or not (limits retention), so that a gateway down for a
// while finds its answers, and so that a server that restarts rebuilds
// its memory of answer ids from them; a worker answering a puzzle again
// within the window is then told it is a duplicate.
func (c *Client) AnswersStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: c.cfg.AnswersStream, Subjects: []string{c.cfg.Subject + ".answers.>"},
		Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
		Discard: jetstream.DiscardNew, MaxAge: c.cfg.AnswersMaxAge, Duplicates: c.cfg.DuplicateWindow,
		Description: "hrmd: answers on their way to the gateway that published the puzzle (docs/fleet.md)",
	}
}

// EnsureStreams creates both streams if missing, and checks them if not:
// a stream whose settings would lose work is refused (RefusedError).
func (c *Client) EnsureStreams(ctx context.Context) error {
	for _, want := range []struct {
		cfg   jetstream.StreamConfig
		check func(jetstream.StreamConfig) string
	}{{c.PuzzlesStreamConfig(), c.checkPuzzles}, {c.AnswersStreamConfig(), c.checkAnswers}} {
		if err := c.ensureStream(ctx, want.cfg, want.check); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) ensureStream(
	ctx context.Context,
	want jetstream.StreamConfig,
	check func(jetstream.StreamConfig) string,
) error {
	s, err := retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return c.js.Stream(ctx, want.Name) })
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return c.js.CreateStream(ctx, want) })
		if err == nil {
			c.log.Sugar().Infof("queue: created stream %s (%s, %d replicas)", want.Name, want.Retention, want.Replicas)
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another hrmd created it meanwhile: check it
			return fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		s, err = retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return c.js.Stream(ctx, want.Name) })
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, err)
	}
	if why := check(s.CachedInfo().Config); why != "" {
		return &RefusedError{What: "stream " + want.Name, Why: why + " (docs/fleet.md, The streams)"}
	}
	return nil
}

// retry calls f until the cluster answers, for up to 30 s: a request may
// find no leader for a few seconds after a server was lost. An answer that
// is an error (but "temporarily unavailable") is returned at once.
func retry[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := f(rctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return v, err
		}
		if !Sleep(ctx, 250*time.Millisecond) {
			return v, ctx.Err()
		}
	}
}

// transient reports errors a cluster gives while it elects a leader or
// reconnects: no answer, or JetStream saying it is temporarily unavailable.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503
	}
	return true
}

// checkPuzzles says why an existing puzzles stream would lose work or
// cannot carry it; "" when it is fine.
func (c *Client) checkPuzzles(got jetstream.StreamConfig) string {
	want := c.PuzzlesStreamConfig()
	switch {
	case got.Retention != jetstream.WorkQueuePolicy:
		return fmt.Sprintf(
			"its retention is %s, not workqueue: answered puzzles would stay in it, and hrmd could not tell a lost puzzle "+
				"from a waiting one",
			got.Retention,
		)
	case got.MaxAge > 0:
		return fmt.Sprintf(
			"its max age is %s: puzzles waiting longer would be deleted unanswered; set it to 0 (unlimited)",
			got.MaxAge,
		)
	case got.Discard == jetstream.DiscardOld && (got.MaxMsgs > 0 || got.MaxBytes > 0 || got.MaxMsgsPerSubject > 0):
		return "it has a size limit with discard old: when full it would drop waiting puzzles; use discard new (a gateway " +
			"then waits for room)"
	case got.MaxMsgSize > 0 && got.MaxMsgSize < want.MaxMsgSize:
		return fmt.Sprintf(
			"its max message size is %d bytes, but a puzzle can take %d (watch.max_file_bytes and headers): raise it, or "+
				"lower watch.max_file_bytes",
			got.MaxMsgSize,
			want.MaxMsgSize,
		)
	}
	return c.checkCommon(got)
}

// checkAnswers is checkPuzzles for the answers stream.
func (c *Client) checkAnswers(got jetstream.StreamConfig) string {
	switch {
	case got.Retention != jetstream.LimitsPolicy:
		return fmt.Sprintf(
			"its retention is %s, not limits: answers must stay for the duplicate window, or a restarted server would take a "+
				"worker's second answer to a puzzle as new",
			got.Retention,
		)
	case got.MaxAge > 0 && got.MaxAge < c.cfg.DuplicateWindow:
		return fmt.Sprintf(
			"its max age %s is shorter than queue.duplicate_window (%s): an answer could be deleted before a gateway reads it",
			got.MaxAge,
			c.cfg.DuplicateWindow,
		)
	case got.Discard == jetstream.DiscardOld && (got.MaxMsgs > 0 || got.MaxBytes > 0 || got.MaxMsgsPerSubject > 0):
		return "it has a size limit with discard old: when full it would drop answers no gateway has read; use discard " +
			"new, or only a max age"
	}
	return c.checkCommon(got)
}

func (c *Client) checkCommon(got jetstream.StreamConfig) string {
	if got.Replicas < c.cfg.Replicas {
		return fmt.Sprintf(
			"it has %d replica(s) but queue.replicas is %d: the loss of one server could lose work; raise the stream's "+
				"replicas, or set queue.replicas to %d on purpose",
			got.Replicas,
			c.cfg.Replicas,
			got.Replicas,
		)
	}
	if got.Duplicates > 0 && got.Duplicates < c.cfg.DuplicateWindow {
		c.log.Sugar().
			Warnf("queue: stream %s remembers message ids for %s, less than queue.duplicate_window (%s): a claim published "+
				"again after that is answered twice (the gateway still writes one answer)",
				got.Name, got.Duplicates, c.cfg.DuplicateWindow)
	}
	return ""
}

// EnsureWorkers creates or updates the workers' consumer: explicit acks,
// an ack wait the workers keep extending while they solve, redelivered as
// often as it takes (a worker answers a puzzle delivered too often with an
// error, so none is stranded), and at most MaxAckPending out at once.
func (c *Client) EnsureWorkers(ctx context.Context) (jetstream.Consumer, error) {
	cc := jetstream.ConsumerConfig{
		Durable: WorkersConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait, MaxDeliver: -1,
		MaxAckPending: c.cfg.MaxAckPending, FilterSubject: c.cfg.Subject + ".puzzles.>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Description:   "hrmd workers (docs/fleet.md)",
	}
	return c.ensureConsumer(ctx, c.cfg.Stream, cc)
}

// EnsureGateway creates or updates a gateway's consumer of its answers.
func (c *Client) EnsureGateway(ctx context.Context) (jetstream.Consumer, error) {
	cc := jetstream.ConsumerConfig{
		Durable: "gateway-" + c.cfg.Name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
		MaxAckPending: 256, FilterSubject: c.answerSubject(c.cfg.Name, ">"), DeliverPolicy: jetstream.DeliverAllPolicy,
		Description: "hrmd gateway " + c.cfg.Name + " (docs/fleet.md)",
	}
	return c.ensureConsumer(ctx, c.cfg.AnswersStream, cc)
}

func (c *Client) ensureConsumer(
	ctx context.Context,
	stream string,
	cc jetstream.ConsumerConfig,
) (jetstream.Consumer, error) {
	cons, err := retry(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
		return c.js.CreateOrUpdateConsumer(ctx, stream, cc)
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", cc.Durable, stream, err)
	}
	return cons, nil
}
