package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
)

// runOutboxPut: a user puts outbox/x.json after x.json was claimed, while
// its answer is being made (a task of many test inputs, run for the
// model's full cycles). At the moment the claim shows in work/ the daemon
// is stopped (SIGSTOP), the user's file put down, and the daemon let go on
// (SIGCONT): the answer must go elsewhere (x.1.json with done/x.1.json),
// never over the user's file. A round whose answer was already there when
// the user came is counted as missed, not as a finding.
func runOutboxPut(e *env) (report, error) {
	s, p, err := e.ready(func(c *config.Config) { c.Inference.MaxCycles = 0 }, startOpts{})
	if err != nil {
		return report{}, err
	}
	put, missed := 0, 0
	var answerTimes []time.Duration
	for i := range e.size.outboxPuts {
		name := fmt.Sprintf("put-%02d.json", i)
		ok, took, err := s.putDuringAnswer(p, name)
		if err != nil {
			return report{}, err
		}
		if ok {
			put++
		} else {
			missed++
		}
		answerTimes = append(answerTimes, took)
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	med, _ := medianMax(answerTimes)
	return report{
		what: fmt.Sprintf(
			"%d files, a user's file put at outbox/<name> after %d claims (%d missed: answered first)",
			v.files,
			put,
			missed,
		),
		v:     v,
		extra: []string{fmt.Sprintf("answers took %s (median, claim to done/)", seconds(med))},
	}, nil
}

// putDuringAnswer drops name, waits for its claim, puts outbox/name while
// the daemon is stopped, and waits for the file to end. It reports
// whether the user's file went down before the answer, and how long the
// answer took from the claim.
func (s *spool) putDuringAnswer(p *hrmd, name string) (bool, time.Duration, error) {
	before := s.finished()
	if err := s.drop(name, bundle(name, 1, 0, 10, 30, 0), wantDone()); err != nil {
		return false, 0, err
	}
	claimed := filepath.Join(s.work, p.instance, name)
	// Polled often: the moment the claim shows is what this round is about.
	if !within(time.Minute, time.Millisecond, func() bool { return !gone(claimed) || s.finished() > before }) {
		return false, 0, fmt.Errorf("%s not claimed within a minute", name)
	}
	at := time.Now()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return false, 0, err
	}
	err := s.placeNew(filepath.Join(s.outbox, name), userBytes(name))
	if cerr := p.Signal(syscall.SIGCONT); cerr != nil {
		return false, 0, cerr
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return false, 0, err
	}
	if err := s.waitFinished(before+1, 5*time.Minute); err != nil {
		return false, 0, err
	}
	return err == nil, time.Since(at), nil
}
