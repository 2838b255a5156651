package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// healthStats is what a daemon's /healthz said while it was meant to run.
type healthStats struct {
	samples, failures int
	firstFailure      string
	slowest           time.Duration
}

func (h *healthStats) add(o healthStats) {
	h.samples += o.samples
	h.failures += o.failures
	if h.firstFailure == "" {
		h.firstFailure = o.firstFailure
	}
	h.slowest = max(h.slowest, o.slowest)
}

func (h healthStats) String() string {
	if h.failures == 0 {
		return fmt.Sprintf("healthz ok in %d samples (slowest %.1f s)", h.samples, h.slowest.Seconds())
	}
	return fmt.Sprintf("healthz FAILED %d of %d samples", h.failures, h.samples)
}

// sampler asks /healthz every quarter second from the moment the daemon
// listens until it is told to stop (or dies): a failure while it should
// be running counts, one after it was signalled does not.
type sampler struct {
	p      *hrmd
	url    string
	client *http.Client
	mu     sync.Mutex
	s      healthStats
}

func newSampler(p *hrmd, timeout time.Duration) *sampler {
	return &sampler{p: p, url: "http://" + p.Addr() + "/healthz",
		// A connection of its own, kept alive between samples like a
		// health checker's.
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}}
}

func (s *sampler) run() {
	for !s.p.stopping.Load() && s.p.Running() {
		start := time.Now()
		resp, err := s.client.Get(s.url)
		took := time.Since(start)
		if err == nil {
			io.Copy(io.Discard, resp.Body) // read to the end: the connection is kept for the next sample
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if s.p.stopping.Load() || !s.p.Running() {
			return // signalled meanwhile: the answer says nothing
		}
		s.mu.Lock()
		s.s.samples++
		s.s.slowest = max(s.s.slowest, took)
		if err != nil {
			s.s.failures++
			if s.s.firstFailure == "" {
				s.s.firstFailure = fmt.Sprintf("%s (hrmd %s at %s)", err, s.p.instance, start.Format(time.TimeOnly))
			}
		}
		s.mu.Unlock()
		time.Sleep(250 * time.Millisecond) // the sampling rate, not a wait for a state
	}
}

func (s *sampler) stats() healthStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// poller calls f now and every interval after, until end.
type poller struct{ stop, done chan struct{} }

func poll(interval time.Duration, f func()) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			f()
			select {
			case <-p.stop:
				return
			case <-time.After(interval): // the sampling rate
			}
		}
	}()
	return p
}

// end stops the polling; what f wrote is the caller's to read once it returns.
func (p *poller) end() {
	if !closed(p.stop) {
		close(p.stop)
	}
	<-p.done
}
