package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet/queue"
	"github.com/hrmd/hrmd/internal/errcode"
)

// Codes for what keeps a fleet member from starting (as answer.Error).
const (
	CodeQueueRefused = errcode.QueueRefused // the cluster's settings would lose work, or cannot carry a puzzle
	CodeQueue        = errcode.QueueFailed  // the cluster refused a request (permissions, a subject taken by another stream)
)

// Codes of the error files a fleet writes.
const (
	codeDeliveryLimit  = errcode.DeliveryLimit  // delivered queue.max_attempts times without an answer: workers died on it
	codeAnswerTooLarge = errcode.AnswerTooLarge // the answer is larger than the servers' max_payload
	codeBadAnswer      = errcode.BadAnswer      // a worker's message is not an answer hrmd can write
	codeModelMismatch  = errcode.ModelMismatch  // answered by a model other than the gateway's (queue.mixed_models: refuse)
)

// fleet is the daemon's part in a fleet (queue.role): the queue client,
// and the goroutines of the roles it plays, beside the intake and the
// worker of local mode, which it feeds and drains: the queue client sits
// beside the service, not inside the worker, so that the worker answers a
// puzzle the same whether it came from the inbox or the queue.
type fleet struct {
	d       *daemon
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
	claims chan *job // claimed files on their way to the queue
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
	outcomes chan *outcome
	drain    chan struct{} // closed once the worker has returned: send what is left, then stop
	sent     chan struct{} // closed when the answer publisher has returned
}

type publishedJob struct {
	id, name string
	at       time.Time // published, or last found waiting in the queue
}

// startFleet connects to the cluster and makes sure of its streams, while
// still heeding stop: its end stops the wait (nil, nil); hup: a Reload came.
func (d *daemon) startFleet(stop context.Context) (*fleet, bool, error) {
	q := d.cfg.Queue
	f := &fleet{d: d, cfg: q, name: q.MemberName(d.opts.Instance), published: map[string]*publishedJob{}, handed: map[string]string{},
		writing: map[*queue.Received]string{}, model: q.ModelSHA256,
		held: map[*queue.Delivery]bool{}, freed: make(chan struct{}, 1), outcomes: make(chan *outcome, 64), claims: make(chan *job, 64),
		drain: make(chan struct{}), sent: make(chan struct{})}
	f.metrics = newFleetMetrics(d.metrics.registry)
	f.png.Store(d.cfg.Answers.PNG)
	c, err := queue.Connect(queue.ClientConfig(q, f.name, d.limits.Bytes), d.log.Named("queue"), func(up bool) { f.metrics.connected.Set(b2f(up)) })
	if err != nil {
		return nil, false, &answer.Error{Code: CodeQueue, Message: err.Error(), Err: err}
	}
	f.c = c
	d.log.Info("queue: joining the fleet", zap.String("role", q.Role), zap.String("name", f.name), zap.Strings("servers", q.Servers))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := c.Ready(ctx, 10*time.Second)
		if err == nil {
			err = c.EnsureStreams(ctx)
		}
		done <- err
	}()
	hup := false
	stopped := stop.Done() // nil once heeded
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil { // stopped as it succeeded
				c.Close()
				return nil, false, nil
			}
			if err != nil {
				c.Close()
				if ctx.Err() != nil {
					return nil, false, nil
				}
				code := CodeQueue
				if queue.IsRefused(err) {
					code = CodeQueueRefused
				}
				return nil, false, &answer.Error{Code: code, Message: "queue: " + err.Error(), Err: err}
			}
			return f, hup, nil
		case <-d.reloadAsked:
			hup = true
		case <-stopped:
			d.log.Info("stopping while waiting for the queue", zap.String("signal", stopCause(stop)))
			stopped = nil
			cancel()
		}
	}
}

// ready is why /readyz says no in fleet mode: not connected to any server.
func (f *fleet) notReady() string {
	if up, why := f.c.Connected(); !up {
		return "queue: " + why
	}
	return ""
}

// run starts the goroutines of the fleet's roles; they end with ctx
// (the intake's), except the worker's answer publisher, which sends what
// the worker left once it has returned (finish), or ends with answersCtx.
func (f *fleet) run(ctx, answersCtx context.Context, wg *sync.WaitGroup) {
	if f.cfg.Gateway() {
		wg.Add(2)
		go func() { defer wg.Done(); f.publishClaims(ctx) }()
		go func() { defer wg.Done(); f.receiveAnswers(ctx) }()
	}
	if !f.cfg.Worker() {
		close(f.sent)
		return
	}
	wg.Add(2)
	go func() { defer wg.Done(); f.fetchPuzzles(ctx) }()
	go func() { defer wg.Done(); f.keepHolding(ctx) }()
	go func() { defer close(f.sent); f.publishAnswers(answersCtx, f.drain) }()
}

// finish waits, once the worker has returned, for the answers it left to
// be sent, for at most timeout: what is not sent by then goes to another
// worker after ack_wait.
func (f *fleet) finish(timeout time.Duration, cancelAnswers context.CancelFunc) {
	close(f.drain)
	select {
	case <-f.sent:
	case <-time.After(timeout):
		f.d.log.Warn("queue: answers not sent within the shutdown timeout; their puzzles go to other workers")
		cancelAnswers()
		<-f.sent
	}
}

// backoffWait waits after a failed request to the cluster, longer each
// time up to 5 s; it reports whether ctx is still live.
func backoffWait(ctx context.Context, tries int) bool {
	return queue.Sleep(ctx, backoff(tries, 250*time.Millisecond, 5*time.Second))
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
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hrmd_fleet_connected", Help: "1 while connected to a NATS server of queue.servers."}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hrmd_fleet_published_total",
			Help: "Messages stored in the cluster, by stream (puzzles: a gateway's claims; answers: a worker's) and result (stored, duplicate: the stream had it already)."},
			[]string{"stream", "result"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Name: "hrmd_fleet_acks_total",
			Help: "Messages acked and confirmed by the cluster: puzzles a worker answered, answers a gateway wrote."}),
		redelivers: prometheus.NewCounter(prometheus.CounterOpts{Name: "hrmd_fleet_redeliveries_total",
			Help: "Puzzles this worker got that another delivery had not answered (a worker died or stalled, or an ack was lost)."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hrmd_fleet_answers_received_total",
			Help: "Answers a gateway received, by result (written; duplicate: that file was answered already; stale: for an earlier file of that name; other_model: from a model other than the gateway's, refused)."},
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
