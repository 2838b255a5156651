package fleet

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet/queue"
	"github.com/hrmd/hrmd/internal/errcode"
)

// CodeQueueRefused is what keeps a fleet member from starting when the
// cluster's settings would lose work, or cannot carry a puzzle (as
// answer.Error); daemon.CodeQueue when the cluster refused a request.
const CodeQueueRefused = errcode.QueueRefused

// Codes of the error files a fleet writes.
const (
	codeDeliveryLimit  = errcode.DeliveryLimit  // delivered queue.max_attempts times without an answer: workers died on it
	codeAnswerTooLarge = errcode.AnswerTooLarge // the answer is larger than the servers' max_payload
	codeBadAnswer      = errcode.BadAnswer      // a worker's message is not an answer hrmd can write
	// answered by a model other than the gateway's (queue.mixed_models: refuse)
	codeModelMismatch = errcode.ModelMismatch
)

// Fleet is the daemon's part in a fleet (queue.role), its daemon.Role:
// the queue client, and the goroutines of the roles it plays, beside the
// intake and the worker of local mode, which it feeds and drains: the
// queue client sits beside the service, not inside the worker, so that the
// worker answers a puzzle the same whether it came from the inbox or the
// queue. A worker's fetch is its Source, its publisher its Sink; a
// gateway's claim publisher its ClaimSink.
type Fleet struct {
	h       *daemon.Host
	log     *zap.Logger
	c       *queue.Client
	cfg     config.Queue
	name    string
	metrics *fleetMetrics
	png     atomic.Bool // answers.png: a gateway draws the pictures (reloaded on SIGHUP)

	// gateway: the claims it published and has no answer to yet, by job.
	mu        sync.Mutex
	published map[string]*publishedJob
	// handed are the claims (job → puzzle id) whose answer went to the
	// writer (or its retrier): another answer to one is a duplicate even
	// while its input is still in work/. By id: a later file claimed under
	// the same name is another claim.
	handed map[string]string
	claims chan *daemon.Job // claimed files on their way to the queue
	// writing are the answer messages whose outcome waits to be written
	// (by job); written are those written and not yet acked.
	writing map[*queue.Received]string
	written []*queue.Received
	// model is the sha256 of the model whose answers the gateway writes:
	// queue.model_sha256, or the first answer's.
	model string

	// worker: the puzzles it holds, and the outcomes on their way back.
	held     map[*queue.Delivery]bool
	freed    chan struct{} // a held puzzle was let go
	outcomes chan *daemon.Outcome
	drain    chan struct{} // closed once the worker has returned: send what is left, then stop
	sent     chan struct{} // closed when the answer publisher has returned
}

type publishedJob struct {
	id, name string
	at       time.Time // published, or last found waiting in the queue
}

// New is the part in a fleet that cfg.Queue gives the daemon of instance.
func New(cfg config.Config, instance string) *Fleet {
	q := cfg.Queue
	f := &Fleet{cfg: q, name: q.MemberName(instance), published: map[string]*publishedJob{}, handed: map[string]string{},
		writing: map[*queue.Received]string{}, model: q.ModelSHA256, held: map[*queue.Delivery]bool{},
		freed: make(chan struct{}, 1), outcomes: make(chan *daemon.Outcome, 64), claims: make(chan *daemon.Job, 64),
		drain: make(chan struct{}), sent: make(chan struct{})}
	f.png.Store(cfg.Answers.PNG)
	return f
}

// Join connects to the cluster and makes sure of its streams, until ctx
// ends (nil, the client closed).
func (f *Fleet) Join(ctx context.Context, h *daemon.Host) error {
	f.h, f.log = h, h.Log()
	f.metrics = newFleetMetrics(h.Registry())
	c, err := queue.Connect(queue.ClientConfig(f.cfg, f.name, h.Limits().Bytes), f.log.Named("queue"),
		func(up bool) { f.metrics.connected.Set(b2f(up)) })
	if err != nil {
		return &answer.Error{Code: daemon.CodeQueue, Message: err.Error(), Err: err}
	}
	f.c = c
	f.log.Info("queue: joining the fleet", zap.String("role", f.cfg.Role), zap.String("name", f.name),
		zap.Strings("servers", f.cfg.Servers))
	err = c.Ready(ctx, 10*time.Second)
	if err == nil {
		err = c.EnsureStreams(ctx)
	}
	if ctx.Err() != nil { // stopped, even as it succeeded
		c.Close()
		return nil
	}
	if err != nil {
		c.Close()
		code := daemon.CodeQueue
		if queue.IsRefused(err) {
			code = CodeQueueRefused
		}
		return &answer.Error{Code: code, Message: "queue: " + err.Error(), Err: err}
	}
	return nil
}

// Down is why the member is connected to no server; "" when it is.
func (f *Fleet) Down() string {
	if up, why := f.c.Connected(); !up {
		return why
	}
	return ""
}

// Lost is closed when the connection is closed for good.
func (f *Fleet) Lost() <-chan struct{} { return f.c.Lost() }

// Close closes the connection.
func (f *Fleet) Close() { f.c.Close() }

// Reloaded takes what a reload changes: answers.png.
func (f *Fleet) Reloaded(cfg config.Config) { f.png.Store(cfg.Answers.PNG) }

// Source is a worker's fetch from the queue; nil for a gateway only.
func (f *Fleet) Source() daemon.Source {
	if !f.cfg.Worker() {
		return nil
	}
	return f
}

// Claims is a gateway's claim publisher; nil for a worker only.
func (f *Fleet) Claims() daemon.ClaimSink {
	if !f.cfg.Gateway() {
		return nil
	}
	return f
}

// Start starts the goroutines of the fleet's roles besides a worker's
// fetch (its Source); they end with ctx (the intake's), except the
// worker's answer publisher, which sends what the worker left once it has
// returned (DrainAnswers), or ends with answers.
func (f *Fleet) Start(ctx, answers context.Context, wg *sync.WaitGroup) {
	if f.cfg.Gateway() {
		wg.Add(2)
		go func() { defer wg.Done(); f.publishClaims(ctx) }()
		go func() { defer wg.Done(); f.receiveAnswers(ctx) }()
	}
	if !f.cfg.Worker() {
		close(f.sent)
		return
	}
	wg.Add(1)
	go func() { defer wg.Done(); f.keepHolding(ctx) }()
	go func() { defer close(f.sent); f.publishAnswers(answers, f.drain) }()
}

// DrainAnswers waits, once the worker has returned, for the answers it left to
// be sent, for at most timeout: what is not sent by then goes to another
// worker after ack_wait.
func (f *Fleet) DrainAnswers(timeout time.Duration, cancelAnswers context.CancelFunc) {
	close(f.drain)
	select {
	case <-f.sent:
	case <-time.After(timeout):
		f.log.Warn("queue: answers not sent within the shutdown timeout; their puzzles go to other workers")
		cancelAnswers()
		<-f.sent
	}
}

// backoffWait waits after a failed request to the cluster, longer each
// time from 250 ms up to 5 s; it reports whether ctx is still live.
func backoffWait(ctx context.Context, tries int) bool {
	return queue.Sleep(ctx, daemon.Backoff(tries, 250*time.Millisecond, 5*time.Second))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fleetMetrics are /metrics' fleet figures, registered in queue mode only.
type fleetMetrics struct {
	connected  prometheus.Gauge
	published  *prometheus.CounterVec // stream, result
	acks       prometheus.Counter
	redelivers prometheus.Counter
	received   *prometheus.CounterVec // result
	depth      prometheus.Gauge
	inFlight   prometheus.Gauge // a gateway's
	held       prometheus.Gauge // a worker's
}

func newFleetMetrics(r *prometheus.Registry) *fleetMetrics {
	m := &fleetMetrics{
		connected: prometheus.NewGauge(
			prometheus.GaugeOpts{Name: "hrmd_fleet_connected", Help: "1 while connected to a NATS server of queue.servers."},
		),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hrmd_fleet_published_total",
			Help: "Messages stored in the cluster, by stream (puzzles: a gateway's claims; answers: a worker's) and result " +
				"(stored, duplicate: the stream had it already)."},
			[]string{"stream", "result"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Name: "hrmd_fleet_acks_total",
			Help: "Messages acked and confirmed by the cluster: puzzles a worker answered, answers a gateway wrote."}),
		redelivers: prometheus.NewCounter(prometheus.CounterOpts{Name: "hrmd_fleet_redeliveries_total",
			Help: "Puzzles this worker got that another delivery had not answered (a worker died or stalled, or an ack was " +
				"lost)."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hrmd_fleet_answers_received_total",
			Help: "Answers a gateway received, by result (written; duplicate: that file was answered already; stale: for an " +
				"earlier file of that name; other_model: from a model other than the gateway's, refused)."},
			[]string{"result"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hrmd_fleet_stream_depth",
			Help: "Puzzles in the puzzles stream, waiting for a worker or out with one (a gateway's view, every 5 s)."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hrmd_fleet_in_flight",
			Help: "A gateway's files published and not yet answered."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hrmd_fleet_held",
			Help: "A worker's puzzles taken from the queue and not yet answered (at most its batch)."}),
	}
	r.MustRegister(m.connected, m.published, m.acks, m.redelivers, m.received, m.depth, m.inFlight, m.held)
	for _, s := range []string{"puzzles", "answers"} {
		for _, res := range []string{"stored", "duplicate"} {
			m.published.WithLabelValues(s, res)
		}
	}
	for _, res := range []string{"written", "duplicate", "stale", "other_model"} {
		m.received.WithLabelValues(res)
	}
	return m
}
