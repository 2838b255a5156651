package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// fleet is one gateway and its workers on the cluster: every start of
// each (the running one last), and the queue metrics of those that ended.
type fleet struct {
	e       *env
	c       *hrmdtest.NATSCluster
	tag     string       // the phase: its folders, instance and queue names
	q       config.Queue // servers, subject and streams of this fleet
	gw      *spool
	gateway []*hrmd
	names   []string // the workers', in order
	workers map[string][]*hrmd
	spools  map[string]*spool // each worker's own
	sums    map[string]float64
}

// newFleet is a fleet with its gateway's spool, nothing started. Each
// phase has its own subject (the first hrmd, the default) and streams
// named after it: tasks one phase answered are no duplicates of the next's.
func (e *env) newFleet(c *hrmdtest.NATSCluster, subject string, workers int) (*fleet, error) {
	tag := subject
	f := &fleet{
		e:       e,
		c:       c,
		tag:     tag,
		workers: map[string][]*hrmd{},
		spools:  map[string]*spool{},
		sums:    map[string]float64{},
		q: config.Queue{Servers: c.URLs(), Subject: subject, Stream: strings.ToUpper(subject) + "_PUZZLES",
			AnswersStream: strings.ToUpper(subject) + "_ANSWERS", Replicas: 3,
			// A killed worker's tasks go to another within seconds,
			// not the default minute.
			AckWait: config.Duration(10 * time.Second)},
	}
	for i := range workers {
		f.names = append(f.names, fmt.Sprintf("%s-w%d", tag, i+1))
	}
	var err error
	f.gw, err = f.spool(tag+"-gateway", "gateway", tag+"-gateway", nil)
	return f, err
}

// spool is a daemon's own spool in the scenario's folder sub/, its
// hrmd.yaml with the queue: section of this fleet in the role given.
func (f *fleet) spool(sub, role, name string, edit func(*config.Config)) (*spool, error) {
	return f.e.newSpoolIn(sub, func(c *config.Config) {
		q := c.Queue // the defaults, for what the fleet leaves unset
		q.Role, q.Name = role, name
		q.Servers, q.Subject, q.Stream, q.AnswersStream = f.q.Servers, f.q.Subject, f.q.Stream, f.q.AnswersStream
		q.Replicas, q.AckWait, q.NKey = f.q.Replicas, f.q.AckWait, f.q.NKey
		c.Queue = q
		if edit != nil {
			edit(c)
		}
	})
}

// startGateway starts the gateway on its spool and waits until it is ready.
func (f *fleet) startGateway() error {
	p, err := f.e.startReady(f.gw, startOpts{instance: f.tag + "-gateway"})
	if p != nil {
		f.gateway = append(f.gateway, p)
	}
	return err
}

// startWorker starts a worker (on a spool of its own, made at its first
// start) and waits until it is ready.
func (f *fleet) startWorker(name string) error {
	s := f.spools[name]
	if s == nil {
		var err error
		if s, err = f.spool(name, "worker", name, func(c *config.Config) {
			// One inference thread each: three workers share two cores in CI.
			c.ONNXRuntime.Threads = 1
			// The model's own cycles (up to 8), not one: the workers, not
			// the queue, set the pace, so the wall times compare.
			c.Inference.MaxCycles = 0
		}); err != nil {
			return err
		}
		f.spools[name] = s
	}
	p, err := f.e.startReady(s, startOpts{instance: name})
	if p != nil {
		f.workers[name] = append(f.workers[name], p)
	}
	return err
}

// start starts the gateway and every worker.
func (f *fleet) start() error {
	if err := f.startGateway(); err != nil {
		return err
	}
	for _, name := range f.names {
		if err := f.startWorker(name); err != nil {
			return err
		}
	}
	return nil
}

// current are the processes started last: the gateway, then the workers.
func (f *fleet) current() []*hrmd {
	var out []*hrmd
	if len(f.gateway) > 0 {
		out = append(out, f.gateway[len(f.gateway)-1])
	}
	for _, name := range f.names {
		if ps := f.workers[name]; len(ps) > 0 {
			out = append(out, ps[len(ps)-1])
		}
	}
	return out
}

// kill9 kills a daemon of the fleet with SIGKILL, its queue metrics
// added to the sums first: a restarted daemon counts from 0 again.
func (f *fleet) kill9(p *hrmd) error {
	f.sample(p)
	return p.kill9()
}

// stop ends the running daemons with SIGTERM, the gateway first, then
// the workers all at once; what goes wrong is a problem.
func (f *fleet) stop() {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, p := range f.current() {
		if !p.Running() {
			continue
		}
		// Metrics are read here, before the workers stop together.
		f.sample(p)
		wg.Add(1)
		stop := func() {
			defer wg.Done()
			if err := p.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
		if i == 0 && slices.Contains(f.gateway, p) {
			stop()
		} else {
			go stop()
		}
	}
	wg.Wait()
	for _, err := range errs {
		f.e.problem("%v", err)
	}
}

// queueMetric is a queue metric (issue 15) of one role that the report
// sums over every process of a fleet.
type queueMetric struct {
	role, key, name string
	labels          map[string]string
}

func queueMetrics() []queueMetric {
	return []queueMetric{
		{"gateway", "answers dropped", "hrmd_fleet_answers_received_total", map[string]string{"result": "duplicate"}},
		{
			"gateway",
			"puzzles deduplicated",
			"hrmd_fleet_published_total",
			map[string]string{"stream": "puzzles", "result": "duplicate"},
		},
		{
			"worker",
			"answers deduplicated",
			"hrmd_fleet_published_total",
			map[string]string{"stream": "answers", "result": "duplicate"},
		},
		{"worker", "redeliveries", "hrmd_fleet_redeliveries_total", nil},
	}
}

// sample adds the daemon's queue metrics of its role to the sums. A
// metric not there at all is a problem: a renamed metric would otherwise
// read as 0 in the report.
func (f *fleet) sample(p *hrmd) {
	role := "worker"
	if slices.Contains(f.gateway, p) {
		role = "gateway"
	}
	code, body, err := p.Get("/metrics")
	if err != nil || code != http.StatusOK {
		f.e.problem("hrmd %s's /metrics before it ended: %d, %v", p.instance, code, err)
		return
	}
	for _, m := range queueMetrics() {
		if m.role != role {
			continue
		}
		v, found := metricSum(body, m.name, m.labels)
		if !found {
			f.e.problem("hrmd %s's /metrics has no %s%v", p.instance, m.name, m.labels)
		}
		f.sums[m.key] += v
	}
}

// metricSum is the sum of a metric's samples in a /metrics body whose
// labels include want, in whatever order the exporter writes them, and
// whether there was any.
func metricSum(body, name string, want map[string]string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		if !strings.HasPrefix(rest, " ") || !hasLabels(strings.Split(labels, ","), want) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func hasLabels(labels []string, want map[string]string) bool {
	for k, v := range want {
		if !slices.Contains(labels, fmt.Sprintf("%s=%q", k, v)) {
			return false
		}
	}
	return true
}

// crashed is an error naming a daemon of the fleet, or a server of the
// cluster, that ended without being told to (nil when none did).
func (f *fleet) crashed() error {
	for _, p := range f.current() {
		if !p.Running() && !p.stopping.Load() {
			return fmt.Errorf("hrmd %s exited on its own (%v); its log: %s", p.instance, p.State(), p.LogPath())
		}
	}
	return f.c.Died()
}

// waitFinished waits until n files are in the gateway's done/ and failed/.
func (f *fleet) waitFinished(n int, timeout time.Duration) error {
	var crash error
	err := hrmdtest.WaitFor(fmt.Sprintf("%d files in %s's done/ and failed/", n, f.tag), timeout, func() bool {
		crash = f.crashed()
		return crash != nil || f.gw.finished() >= n
	})
	if err == nil && crash != nil {
		err = fmt.Errorf("%w, while waiting for %d files in done/ and failed/", crash, n)
	}
	return err
}

// checkWorkerSpools: a worker answers over the queue only, so its own
// outbox, done/ and failed/ stay empty; anything there is a file written
// outside the gateway's outbox.
func (f *fleet) checkWorkerSpools() {
	for _, name := range f.names {
		s := f.spools[name]
		if s == nil {
			continue
		}
		for _, dir := range []string{s.outbox, s.done, s.failed} {
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				f.e.problem("%s: worker %s wrote %d entries into %s (%s, ...)", f.tag, name, len(entries), dir, entries[0].Name())
			}
		}
	}
}
