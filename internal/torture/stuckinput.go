package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// runStuckInput: the outbox is full (a small tmpfs filled with a ballast
// file, as in tmpfs), so an answer cannot be written and waits; the admin
// then removes its input from work/ and space returns. With no restart the
// daemon must be ready again (/readyz 200) and take new files, and the
// answer of the removed input must not be written again and again (it is
// dropped, or written once).
func runStuckInput(e *env) (report, error) {
	dir, ns, s, p, err := e.readyOnTmpfs(tmpfsSize)
	if err != nil {
		return report{}, err
	}
	defer ns.close()
	const name = "stuck.json"
	stage := filepath.Join(s.inbox, ".stage-"+name)
	if err := os.WriteFile(stage, e.tasks.task(0, name), 0o644); err != nil {
		return report{}, err
	}
	ballast := filepath.Join(ns.view+dir, "ballast")
	if err := fill(ballast); err != nil {
		return report{}, err
	}
	// Not in the manifest: the admin removes it, nothing need become of it.
	if err := os.Rename(stage, filepath.Join(s.inbox, name)); err != nil {
		return report{}, err
	}
	if _, err := p.WaitMetric("hrmd_stuck_files", 2*time.Minute, func(v float64) bool { return v > 0 }); err != nil {
		return report{}, err
	}
	if err := p.WaitReadyz(503, "cannot be written", time.Minute); err != nil {
		return report{}, err
	}
	claimed := filepath.Join(s.work, p.instance, name)
	if err := os.Remove(claimed); err != nil {
		return report{}, fmt.Errorf("the admin's rm of the stuck input: %w", err)
	}
	writes := watchWrites(s.outbox, name)
	if err := os.Remove(ballast); err != nil {
		return report{}, err
	}
	freed := time.Now()
	if err := s.drop("after.json", e.tasks.task(1, "after.json"), wantDone()); err != nil {
		return report{}, err
	}
	recovered := within(e.size.stuckPatience, 50*time.Millisecond, func() bool {
		code, _, err := p.Get("/readyz")
		return err == nil && code == http.StatusOK && s.finished() >= 1
	})
	took := time.Since(freed)
	// A few retries' worth more, to see the removed input's answer written again.
	time.Sleep(e.size.stuckWatch)
	n := writes.writes()[name]
	recovery := "recovered without a restart in " + seconds(took)
	if !recovered {
		recovery = "NOT recovered " + seconds(took) + " after space returned"
		code, body, _ := p.Get("/readyz")
		e.problem(
			"L3: %s after space returned, /readyz %d %q and after.json still waits (no file is taken until a restart)",
			seconds(took),
			code,
			body,
		)
	}
	if n > 1 {
		e.problem("L3: the answer of the removed input was written %d times (rewritten at every retry)", n)
	}
	// The removed input's answer, if written, is not the checker's business.
	os.Remove(filepath.Join(s.outbox, name))
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check() // before the namespace, and the tmpfs, go
	return report{what: fmt.Sprintf("%d files, a stuck answer's input removed from work/ by the admin", v.files), v: v,
		extra: []string{recovery, fmt.Sprintf("the removed input's answer written %d times", n)}}, nil
}
