package daemon

import "sync"

// gate is a condition goroutines wait for: while it is open, opened() is a
// closed channel; shutting it hands out a new, open-ended one.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func newGate(open bool) gate {
	ch := make(chan struct{})
	if open {
		close(ch)
	}
	return gate{ch: ch}
}

// opened is closed while the gate is open.
func (g *gate) opened() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ch
}

func (g *gate) isOpen() bool { return isClosed(g.opened()) }

// set opens or shuts the gate, and reports whether that changed it.
func (g *gate) set(open bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if isClosed(g.ch) == open {
		return false
	}
	if open {
		close(g.ch)
	} else {
		g.ch = make(chan struct{})
	}
	return true
}

// jobSet is the jobs in this daemon's hands: admitted, and not yet out of
// work/. A rescan of work/ takes up the others.
type jobSet struct {
	mu   sync.Mutex
	jobs map[string]bool
}

// add reports whether job was not in the set already.
func (s *jobSet) add(job string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs = map[string]bool{}
	}
	if s.jobs[job] {
		return false
	}
	s.jobs[job] = true
	return true
}

func (s *jobSet) drop(job string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, job)
}

func (s *jobSet) has(job string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[job]
}
