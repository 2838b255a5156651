package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
)

// runManyNames: done/ holds task.json and many earlier task.N.json (a
// client that always writes task.json); then task.json is dropped a few
// times, one after the other. A claim must cost the same however many
// earlier files of the name there are: each one's claim latency, from its
// rename into the inbox to its leaving it (no settle time), is reported,
// and a median over 50 ms is a finding.
func runManyNames(e *env) (report, error) {
	s, p, err := e.ready(func(c *config.Config) { c.Watch.Settle = 0 }, startOpts{})
	if err != nil {
		return report{}, err
	}
	earlier := e.size.earlierNames
	made := time.Now()
	for n := 0; n <= earlier; n++ {
		name := "task.json"
		if n > 0 {
			name = fmt.Sprintf("task.%d.json", n)
		}
		if err := s.place(filepath.Join(s.done, name), []byte(fmt.Sprintf("an earlier task.json, %d\n", n))); err != nil {
			return report{}, err
		}
	}
	madeIn := time.Since(made)
	var claims []time.Duration
	for i := range e.size.sameNameDrops {
		before := s.finished()
		stage := filepath.Join(s.inbox, ".stage-task.json")
		data := e.tasks.task(i, fmt.Sprintf("task.json %d", i))
		if err := os.WriteFile(stage, data, 0o644); err != nil {
			return report{}, err
		}
		if err := s.m.expect(contentID(data), "task.json", wantDone()); err != nil {
			return report{}, err
		}
		in := filepath.Join(s.inbox, "task.json")
		dropped := time.Now()
		if err := os.Rename(stage, in); err != nil {
			return report{}, err
		}
		// Polled often: the time it takes is the figure.
		if !within(2*time.Minute, time.Millisecond, func() bool { return gone(in) }) {
			return report{}, fmt.Errorf("task.json #%d not claimed within 2 minutes", i)
		}
		claims = append(claims, time.Since(dropped))
		if err := s.waitFinished(before+1, 2*time.Minute); err != nil {
			return report{}, err
		}
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	med, slowest := medianMax(claims)
	if med > 50*time.Millisecond {
		v.problem(
			"L9: a claim of task.json took %.0f ms (median of %d; slowest %.0f ms) with %d earlier task.N.json in done/, want "+
				"at most 50 ms",
			ms(med),
			len(claims),
			ms(slowest),
			earlier,
		)
	}
	return report{
		what: fmt.Sprintf(
			"%d files, task.json dropped %d times over %d earlier task.N.json in done/ (made in %s)",
			v.files,
			len(claims),
			earlier,
			seconds(madeIn),
		),
		v:     v,
		extra: []string{fmt.Sprintf("claim latency median %.0f ms, slowest %.0f ms", ms(med), ms(slowest))},
	}, nil
}
