package daemon

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Backoff of an outcome that cannot be written: the first retry soon (a
// disk often has room again within seconds), then slower, so that a
// read-only outbox costs a few writes a minute, not a busy loop.
const (
	firstRetry = 500 * time.Millisecond
	maxRetry   = 10 * time.Second
)

// stuckOutcomes are the outcomes that could not be written, tried again
// with a backoff by run. While any waits, the gate is shut: intake takes no
// new file (they wait in the inbox; what is claimed would only join the
// queue), and /readyz says why.
type stuckOutcomes struct {
	d    *daemon
	mu   sync.Mutex
	list []*Outcome
	wake chan struct{} // buffered 1: an outcome was added
	open gate          // shut while any outcome waits
}

func newStuckOutcomes(d *daemon) *stuckOutcomes {
	return &stuckOutcomes{d: d, wake: make(chan struct{}, 1), open: newGate(true)}
}

// add keeps an outcome that could not be written.
func (s *stuckOutcomes) add(o *Outcome) {
	s.schedule(o)
	s.mu.Lock()
	s.list = append(s.list, o)
	s.d.metrics.stuck.Set(float64(len(s.list)))
	s.open.set(false)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule counts a failed write of o, sets when it is tried next, and logs
// it: the first failure as an error, the later ones for debugging.
func (s *stuckOutcomes) schedule(o *Outcome) {
	o.tries++
	wait := Backoff(o.tries, firstRetry, maxRetry)
	o.next = time.Now().Add(wait)
	level := zap.ErrorLevel
	if o.tries > 1 {
		level = zap.DebugLevel
	}
	where := "the answer"
	if o.Failure != nil {
		where = "the error file"
	}
	s.d.log.Log(level, "cannot write "+where+"; it is kept and tried again, and the file waits in work/",
		zap.String("name", o.Work), zap.Int("tries", o.tries), zap.Duration("retry_in", wait), zap.Error(o.lastErr))
}

// Backoff is the pause after the tries-th failure in a row: first, doubling
// with each failure, at most limit. A fleet's requests to the cluster back
// off by it too.
func Backoff(tries int, first, limit time.Duration) time.Duration {
	d := first
	for i := 1; i < tries && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (s *stuckOutcomes) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// lastError is the newest write error, for /readyz.
func (s *stuckOutcomes) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) == 0 {
		return nil
	}
	return s.list[len(s.list)-1].lastErr
}

// due takes out the outcomes whose time has come.
func (s *stuckOutcomes) due(now time.Time) (due []*Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.list[:0]
	for _, o := range s.list {
		if o.next.After(now) {
			kept = append(kept, o)
		} else {
			due = append(due, o)
		}
	}
	s.list = kept
	return due
}

// settle puts back the outcomes still not written, opens the gate when
// none is left, and says when the next is due (zero when none waits).
func (s *stuckOutcomes) settle(again []*Outcome) (next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, again...)
	s.d.metrics.stuck.Set(float64(len(s.list)))
	if len(s.list) == 0 {
		s.open.set(true)
	}
	for _, o := range s.list {
		if next.IsZero() || o.next.Before(next) {
			next = o.next
		}
	}
	return next
}

// run retries the stuck outcomes until ctx ends; those left then stay in
// work/ and are answered at the next start.
func (s *stuckOutcomes) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var again []*Outcome
		for _, o := range s.due(time.Now()) {
			if !s.d.tryWrite(o) {
				s.schedule(o)
				again = append(again, o)
			}
		}
		wait := time.Hour
		if next := s.settle(again); !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}
