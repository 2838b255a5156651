package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// runRmWork: the admin's `rm -rf spool/work` while a daemon of instance a
// runs takes its lock file with it; a second `hrmd run --instance a` must
// then be refused (or the first stop): never two daemons of one instance
// answering. Then, on a spool of its own, work/a alone is deleted under a
// running daemon: files must still be answered (work/a made again), or
// /readyz must say 503, never 200 while every claim fails.
func runRmWork(e *env) (report, error) {
	v, twoRan, err := rmWorkSecond(e)
	if err != nil {
		return report{}, err
	}
	v6, stall, err := rmWorkInstance(e)
	if err != nil {
		return report{}, err
	}
	v.add(v6)
	return report{
		what: fmt.Sprintf(
			"%d files, spool/work removed under a daemon and a second started; work/a removed under another",
			v.files,
		),
		v:     v,
		extra: []string{twoRan, stall},
	}, nil
}

// rmWorkSecond is the first half: rm -rf work, then a second daemon of
// the same instance.
func rmWorkSecond(e *env) (verdict, string, error) {
	s, err := e.newSpoolIn("l5", func(c *config.Config) { c.ONNXRuntime.Threads = 1 })
	if err != nil {
		return verdict{}, "", err
	}
	first, err := e.startReady(s, startOpts{instance: "a"})
	if err != nil {
		return verdict{}, "", err
	}
	if err := os.RemoveAll(s.work); err != nil {
		return verdict{}, "", err
	}
	second, err := e.start(s, startOpts{instance: "a"})
	if err != nil && (second == nil || second.Running()) {
		return verdict{}, "", err
	}
	// Refused at once, or stopped meanwhile, or ready beside the first.
	if err := hrmdtest.WaitFor("the second daemon refused or ready", 3*time.Minute, func() bool {
		return !second.Running() || !first.Running() || second.Count("ready") > 0
	}); err != nil {
		return verdict{}, "", err
	}
	outcome, both := "the second daemon refused", first.Running() && second.Running()
	switch {
	case both:
		// Both run: the first must stand down (its inbox unusable, /readyz
		// 503), and only one may answer.
		outcome = "both ran, the first stood down (/readyz 503)"
		if !within(e.size.stuckPatience, 100*time.Millisecond, func() bool {
			code, _, err := first.Get("/readyz")
			return err == nil && code == http.StatusServiceUnavailable
		}) {
			outcome = "TWO daemons of instance a ran at once, both ready"
			e.problem("L5: after rm -rf spool/work a second hrmd run --instance a started beside the first "+
				"(pids %d and %d), and the first still says ready", first.Pid(), second.Pid())
		}
	case !first.Running():
		outcome = "the first daemon stopped"
	}
	firstBefore := first.Count("answered")
	if err := s.burst("rmwork", e.size.rmWorkFiles); err != nil {
		return verdict{}, "", err
	}
	total := s.m.dropped()
	if !within(e.size.stuckPatience, 100*time.Millisecond, func() bool { return s.finished() >= total }) {
		// Refused, and the first daemon does not make work/a again (L6,
		// the second half's finding): the admin does.
		outcome += fmt.Sprintf(", %d files waited until the admin made work/a again", s.waiting())
		if err := os.MkdirAll(filepath.Join(s.work, "a"), 0o755); err != nil {
			return verdict{}, "", err
		}
		if err := s.waitFinished(total, 2*time.Minute); err != nil {
			return verdict{}, "", err
		}
	}
	if byFirst := first.Count("answered") - firstBefore; both && byFirst > 0 && second.Count("answered") > 0 {
		outcome += fmt.Sprintf(", both answered (the first %d)", byFirst)
		e.problem("L5: two daemons of instance a answered files of one burst (the first %d, the second %d)",
			byFirst, second.Count("answered"))
	}
	answered := 0
	for _, p := range []*hrmd{first, second} {
		answered += p.Count("answered")
		if p.Running() {
			if err := p.stop(); err != nil {
				e.problem("%v", err)
			}
		}
	}
	v := s.check()
	if extra := answered - v.outcomes["answered"]; extra > 0 {
		v.twice += extra
		v.problem("L5: %d answers logged for %d files answered: files answered by both daemons",
			answered, v.outcomes["answered"])
	}
	return v, outcome, nil
}

// rmWorkInstance is the second half: work/a alone removed.
func rmWorkInstance(e *env) (verdict, string, error) {
	s, err := e.newSpoolIn("l6", nil)
	if err != nil {
		return verdict{}, "", err
	}
	p, err := e.startReady(s, startOpts{instance: "a"})
	if err != nil {
		return verdict{}, "", err
	}
	if err := os.RemoveAll(filepath.Join(s.work, "a")); err != nil {
		return verdict{}, "", err
	}
	removed := time.Now()
	if err := s.burst("rmworka", e.size.rmWorkFiles); err != nil {
		return verdict{}, "", err
	}
	total := s.m.dropped()
	said503 := false
	answered := within(e.size.stuckPatience, 100*time.Millisecond, func() bool {
		if code, _, err := p.Get("/readyz"); err == nil && code == http.StatusServiceUnavailable {
			said503 = true
		}
		return s.finished() >= total
	})
	how := "every file answered " + seconds(time.Since(removed)) + " after work/a was removed"
	if !answered {
		code, body, _ := p.Get("/readyz")
		how = fmt.Sprintf("%d files waited %s with work/a gone, /readyz %d", s.waiting(), seconds(time.Since(removed)), code)
		if !said503 {
			e.problem("L6: with work/a removed, %d files wait in the inbox and /readyz says %d %q throughout (a silent stall)",
				s.waiting(), code, strings.TrimSpace(body))
		}
		// The admin makes it again.
		if err := os.Mkdir(filepath.Join(s.work, "a"), 0o755); err != nil {
			return verdict{}, "", err
		}
		made := time.Now()
		if err := s.waitFinished(total, 2*time.Minute); err != nil {
			return verdict{}, "", err
		}
		how += ", answered " + seconds(time.Since(made)) + " after the admin made it again"
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	return s.check(), how, nil
}
