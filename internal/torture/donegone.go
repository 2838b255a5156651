package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runDoneGone: done/ is moved away while files are answered, and brought
// back a while later. A consumer takes each answer out of the outbox as it
// comes, as a client does, and counts the answers it gets twice: a failed
// move to done/ must not write the answer again (the retry redoes only the
// move), and a missing done/ may be made again.
func runDoneGone(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	c, err := newConsumer(s, filepath.Join(e.dir, "consumed"))
	if err != nil {
		return report{}, err
	}
	away := s.done + ".away"
	if err := os.Rename(s.done, away); err != nil {
		return report{}, err
	}
	movedAway := time.Now()
	if err := s.burst("donegone", e.size.doneGoneFiles); err != nil {
		return report{}, err
	}
	total := s.m.dropped()
	// The admin notices after a while: a few retries' worth, unless every
	// file ended meanwhile (done/ made again).
	stuck := within(time.Minute, 50*time.Millisecond, func() bool {
		n, err := p.Metric("hrmd_stuck_files")
		return (err == nil && n > 0) || s.finished() >= total
	})
	if stuck && s.finished() < total {
		time.Sleep(e.size.doneAway)
	}
	restored := time.Now()
	if gone(s.done) {
		err = os.Rename(away, s.done)
	} else {
		err = mergeInto(away, s.done)
	}
	if err != nil {
		return report{}, err
	}
	if err := s.waitFinished(total, 5*time.Minute); err != nil {
		return report{}, err
	}
	took, all := time.Since(restored), time.Since(movedAway)
	dups := c.finish()
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	v.twice += dups
	if dups > 0 {
		v.problem("L4: the consumer got %d answers more than once (written again at each retry of the move to done/)", dups)
	}
	return report{
		what: fmt.Sprintf("%d files, done/ moved away while answering, answers taken by a consumer", v.files),
		v:    v,
		extra: []string{fmt.Sprintf("answers got twice %d", dups),
			fmt.Sprintf("all ended %s after done/ went away, %s after it came back", seconds(all), seconds(took))},
	}, nil
}

// mergeInto moves what is in from into to (a done/ the daemon made again
// meanwhile), then removes from.
func mergeInto(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, en := range entries {
		if err := os.Rename(filepath.Join(from, en.Name()), filepath.Join(to, en.Name())); err != nil {
			return err
		}
	}
	return os.Remove(from)
}

// consumer moves answers out of the outbox as they come, keeping the
// first of each name and counting the names that come again.
type consumer struct {
	s      *spool
	dir    string
	dups   int
	poller *poller
}

func newConsumer(s *spool, dir string) (*consumer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &consumer{s: s, dir: dir}
	c.poller = poll(20*time.Millisecond, c.take)
	return c, nil
}

func (c *consumer) take() {
	entries, _ := os.ReadDir(c.s.outbox)
	for _, en := range entries {
		name := en.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		if _, mine := c.s.m.userPath(filepath.Join(c.s.outbox, name)); mine {
			continue
		}
		to := filepath.Join(c.dir, name)
		if !gone(to) {
			c.dups++
			to = filepath.Join(c.dir, fmt.Sprintf("%s.again-%d", name, c.dups))
		}
		os.Rename(filepath.Join(c.s.outbox, name), to)
	}
}

// finish stops the consumer, puts the first answer of each name back in
// the outbox for the checker, and returns how many came more than once.
func (c *consumer) finish() int {
	c.poller.end()
	c.take()
	entries, _ := os.ReadDir(c.dir)
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".json") {
			if err := os.Rename(filepath.Join(c.dir, en.Name()), filepath.Join(c.s.outbox, en.Name())); err != nil {
				c.s.e.problem("put the consumed answer %s back: %v", en.Name(), err)
			}
		}
	}
	return c.dups
}
