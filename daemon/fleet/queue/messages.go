package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Headers hrmd's messages carry beside NATS's own Nats-Msg-Id (the
// puzzle's id on both streams, which the servers deduplicate by). Names
// are query-escaped: a file name may hold any byte.
const (
	hdrName      = "Hrmd-Name"       // the file as dropped in the gateway's inbox
	hdrJob       = "Hrmd-Job"        // its name in the gateway's work/
	hdrDroppedAs = "Hrmd-Dropped-As" // the task's name, when the claim renamed it
	hdrGateway   = "Hrmd-Gateway"    // whose answers subject the answer goes to
	hdrOutcome   = "Hrmd-Outcome"    // answered | failed (the body is then an error file)
	hdrWorker    = "Hrmd-Worker"
	hdrAttempt   = "Hrmd-Attempt"
	hdrProvider  = "Hrmd-Provider"
	hdrModel     = "Hrmd-Model" // the sha256 of the model bundle that ran it (none for a file failed before it ran)
)

// Puzzle is a claimed task file on its way to a worker.
type Puzzle struct {
	ID        string // the claim's identity: the message id on both streams, the last token of both subjects
	Gateway   string
	Name, Job string
	DroppedAs string
	Data      []byte // the file as dropped
}

// Answer is a worker's outcome for a puzzle: the answer file, or
// (Failed) the error file that goes to the gateway's failed/.
type Answer struct {
	ID, Gateway, Job string
	Name             string // the file as dropped
	Failed           bool
	Body             []byte
	Worker, Provider string
	// Model is the sha256 of the worker's model bundle that answered (its
	// hrm.yaml and graphs, as the answer file's model.sha256): "" for a
	// puzzle failed before a model ran it.
	Model   string
	Attempt int // deliveries of the puzzle so far
}

// ErrTooLarge is an answer larger than the servers carry.
var ErrTooLarge = errors.New("larger than the queue's max_payload")

// PublishPuzzle stores a puzzle in the puzzles stream, trying until it is
// stored or ctx ends; duplicate is true when the stream already had it
// (a claim published again after a gateway restart).
func (c *Client) PublishPuzzle(ctx context.Context, p Puzzle) (duplicate bool, err error) {
	m := nats.NewMsg(c.puzzleSubject(p.ID))
	m.Header.Set(hdrName, url.QueryEscape(p.Name))
	m.Header.Set(hdrJob, url.QueryEscape(p.Job))
	if p.DroppedAs != "" {
		m.Header.Set(hdrDroppedAs, url.QueryEscape(p.DroppedAs))
	}
	m.Header.Set(hdrGateway, p.Gateway)
	m.Data = p.Data
	return c.publish(ctx, m, p.ID)
}

// PublishAnswer stores an answer in the answers stream under its
// gateway's subject, trying until it is stored or ctx ends. An answer the
// servers cannot carry is ErrTooLarge.
func (c *Client) PublishAnswer(ctx context.Context, a Answer) (duplicate bool, err error) {
	m := nats.NewMsg(c.answerSubject(a.Gateway, a.ID))
	m.Header.Set(hdrJob, url.QueryEscape(a.Job))
	m.Header.Set(hdrName, url.QueryEscape(a.Name))
	outcome := "answered"
	if a.Failed {
		outcome = "failed"
	}
	m.Header.Set(hdrOutcome, outcome)
	m.Header.Set(hdrWorker, a.Worker)
	m.Header.Set(hdrProvider, a.Provider)
	if a.Model != "" {
		m.Header.Set(hdrModel, a.Model)
	}
	m.Header.Set(hdrAttempt, strconv.Itoa(a.Attempt))
	m.Data = a.Body
	if int64(len(a.Body)+headerRoom) > c.nc.MaxPayload() {
		return false, fmt.Errorf("answer of %d bytes: %w (%d)", len(a.Body), ErrTooLarge, c.nc.MaxPayload())
	}
	return c.publish(ctx, m, a.ID)
}

// publish stores m with message id id, retrying what a cluster does while
// a server is lost or a leader elected: no responders, timeouts, a full
// stream (it waits for room).
func (c *Client) publish(ctx context.Context, m *nats.Msg, id string) (bool, error) {
	warnAt := time.Now().Add(10 * time.Second)
	for tries := 1; ; tries++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ack, err := c.js.PublishMsg(pctx, m, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(0))
		cancel()
		if err == nil {
			return ack.Duplicate, nil
		}
		if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
			return false, fmt.Errorf("publish %s: %w", m.Subject, ErrTooLarge)
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("publish %s: %w", m.Subject, ctx.Err())
		}
		if time.Now().After(warnAt) {
			c.log.Warn(
				"queue: cannot store a message yet; trying again",
				zap.String("subject", m.Subject),
				zap.Int("tries", tries),
				zap.Error(err),
			)
			warnAt = time.Now().Add(30 * time.Second)
		}
		if !Sleep(ctx, min(250*time.Millisecond*time.Duration(tries), 2*time.Second)) {
			return false, fmt.Errorf("publish %s: %w", m.Subject, ctx.Err())
		}
	}
}

// ack confirms msg with the server, retrying for up to a minute: a server
// lost with the consumer's leader leaves acks unanswered for some seconds
// (about 7 measured) until another is elected. One that never gets through
// is harmless: the message comes again, and what it led to is recognised
// as a duplicate.
func ack(ctx context.Context, msg jetstream.Msg) error {
	deadline := time.Now().Add(time.Minute)
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := msg.DoubleAck(actx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("ack: %w", err)
		}
		if !Sleep(ctx, 250*time.Millisecond) {
			return fmt.Errorf("ack: %w", ctx.Err())
		}
	}
}

// fetch takes up to n messages from cons, waiting up to wait for the
// first, or less if ctx ends. A cluster electing a leader answers with
// errors for a while: those come back as err, and the caller fetches again.
func fetch(ctx context.Context, cons jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return msgs, nil
}

func unescape(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// attempt is how often the message has been delivered, this time included.
func attempt(msg jetstream.Msg) int {
	md, err := msg.Metadata()
	if err != nil {
		return 1
	}
	return int(md.NumDelivered)
}

// lastToken is a subject's last token: the puzzle id.
func lastToken(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}
