package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
)

// Work is a worker's feed of puzzles.
type Work struct {
	c    *Client
	cons jetstream.Consumer
}

// Delivery is a puzzle a worker holds until it acks it.
type Delivery struct {
	Puzzle
	Attempt int // deliveries so far, this one included
	msg     jetstream.Msg
}

// Work creates (or updates) the workers' consumer and returns the feed.
func (c *Client) Work(ctx context.Context) (*Work, error) {
	cons, err := c.EnsureWorkers(ctx)
	if err != nil {
		return nil, err
	}
	return &Work{c: c, cons: cons}, nil
}

// Fetch takes up to n puzzles, waiting up to wait for the first (less if ctx ends). A message
// that is not an hrmd puzzle cannot be answered: it is terminated (the
// stream deletes it) and logged.
func (w *Work) Fetch(ctx context.Context, n int, wait time.Duration) ([]*Delivery, error) {
	msgs, err := fetch(ctx, w.cons, n, wait)
	if err != nil {
		return nil, err
	}
	var out []*Delivery
	for _, m := range msgs {
		h := m.Headers()
		p := Puzzle{
			ID:        lastToken(m.Subject()),
			Gateway:   h.Get(hdrGateway),
			Name:      unescape(h.Get(hdrName)),
			Job:       unescape(h.Get(hdrJob)),
			DroppedAs: unescape(h.Get(hdrDroppedAs)),
			Data:      m.Data(),
		}
		if !config.ValidToken(p.ID) || !config.ValidToken(p.Gateway) || p.Job == "" || h.Get("Nats-Msg-Id") != p.ID {
			w.c.log.Error("queue: a message on the puzzles subject is not an hrmd puzzle (no gateway, job or id); removing it",
				zap.String("subject", m.Subject()), zap.Int("bytes", len(m.Data())))
			_ = m.TermWithReason("not an hrmd puzzle")
			continue
		}
		out = append(out, &Delivery{Puzzle: p, Attempt: attempt(m), msg: m})
	}
	return out, nil
}

// InProgress tells the server the worker is still on it: the ack wait
// starts again, so the puzzle is not given to another worker meanwhile.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Done acks the puzzle, once its answer is stored: the work queue then
// deletes it.
func (d *Delivery) Done(ctx context.Context) error { return ack(ctx, d.msg) }

// AnswersFeed is a gateway's feed of the answers to its puzzles.
type AnswersFeed struct {
	c    *Client
	cons jetstream.Consumer
}

// Received is an answer a gateway holds until it acks it.
type Received struct {
	Answer
	msg jetstream.Msg
}

// Answers creates (or updates) the gateway's consumer and returns the feed.
func (c *Client) Answers(ctx context.Context) (*AnswersFeed, error) {
	cons, err := c.EnsureGateway(ctx)
	if err != nil {
		return nil, err
	}
	return &AnswersFeed{c: c, cons: cons}, nil
}

// Fetch takes up to n answers, waiting up to wait for the first (less if ctx ends).
func (f *AnswersFeed) Fetch(ctx context.Context, n int, wait time.Duration) ([]*Received, error) {
	msgs, err := fetch(ctx, f.cons, n, wait)
	if err != nil {
		return nil, err
	}
	out := make([]*Received, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, &Received{Answer: decodeAnswer(m.Subject(), m.Headers(), m.Data()), msg: m})
	}
	return out, nil
}

func decodeAnswer(subject string, h map[string][]string, body []byte) Answer {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	n, _ := strconv.Atoi(get(hdrAttempt))
	return Answer{
		ID:       lastToken(subject),
		Job:      unescape(get(hdrJob)),
		Name:     unescape(get(hdrName)),
		Failed:   get(hdrOutcome) == "failed",
		Body:     body,
		Worker:   get(hdrWorker),
		Provider: get(hdrProvider),
		Model:    get(hdrModel),
		Attempt:  n,
	}
}

// Ack tells the server the answer is written.
func (r *Received) Ack(ctx context.Context) error { return ack(ctx, r.msg) }

// InProgress tells the server the gateway still holds the answer (its
// write is pending): it does not come again meanwhile.
func (r *Received) InProgress() error { return r.msg.InProgress() }

// Later hands the answer back, to come again after delay (its write failed).
func (r *Received) Later(delay time.Duration) error { return r.msg.NakWithDelay(delay) }

// Where a puzzle is, for a gateway looking for one it has long had no
// answer to.
type Where int

const (
	// Waiting: in the puzzles stream, waiting for a worker or out with one.
	Waiting Where = iota
	// Answered: its answer is in the answers stream.
	Answered
	// Lost: in neither (the stream was purged or recreated, say): it must
	// be published again.
	Lost
)

// Locate finds a puzzle of this gateway's. The puzzles stream is asked
// first: a worker stores the answer before it acks the puzzle, so one
// that has left the puzzles stream is in the answers stream by then.
func (c *Client) Locate(ctx context.Context, id string) (Where, *Answer, error) {
	for _, look := range []struct{ stream, subject string }{
		{c.cfg.Stream, c.puzzleSubject(id)}, {c.cfg.AnswersStream, c.answerSubject(c.cfg.Name, id)},
	} {
		s, err := c.js.Stream(ctx, look.stream)
		if err != nil {
			return Lost, nil, fmt.Errorf("stream %s: %w", look.stream, err)
		}
		msg, err := s.GetLastMsgForSubject(ctx, look.subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue
		case err != nil:
			return Lost, nil, fmt.Errorf("look for %s in %s: %w", look.subject, look.stream, err)
		case look.stream == c.cfg.Stream:
			return Waiting, nil, nil
		}
		a := decodeAnswer(msg.Subject, msg.Header, msg.Data)
		return Answered, &a, nil
	}
	return Lost, nil, nil
}

// Depth is how many puzzles the puzzles stream holds: waiting for a worker
// or out with one (a work queue deletes those answered).
func (c *Client) Depth(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.Msgs, nil
}
