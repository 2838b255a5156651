package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// runKill9: a burst of files, hrmd killed with SIGKILL at random moments
// (while loading, scanning, claiming, running a batch, writing an
// answer) and started again each time; at the end every file is answered
// exactly once and the user's own files beside the spool are untouched.
func runKill9(e *env) (report, error) {
	s, err := e.burstSpool("kill9", e.size.kill9Files, func(c *config.Config) { c.Inference.MaxBatch = 2 })
	if err != nil {
		return report{}, err
	}
	total := s.m.dropped()
	p, err := e.start(s, startOpts{})
	if err != nil {
		return report{}, err
	}
	kills := 0
	for kills < e.size.kills {
		if err := s.killMoment(p, total); err != nil {
			return report{}, err
		}
		if err := p.kill9(); err != nil {
			return report{}, err
		}
		kills++
		if p, err = e.start(s, startOpts{}); err != nil {
			return report{}, err
		}
	}
	if err := s.waitFinished(total, 10*time.Minute); err != nil {
		return report{}, err
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{what: fmt.Sprintf("%d files, %d kills", v.files, kills), v: v}, nil
}

// killMoment waits for a random moment to kill the daemon: mostly after a
// random number of answers (with a random few milliseconds more, to land
// inside a batch or a write), sometimes a random moment of its start
// (loading the model, taking up work/, the first scan). The sleeps pick
// the moment; they wait for nothing.
func (s *spool) killMoment(p *hrmd, total int) error {
	rng := s.e.rng
	if rng.IntN(4) == 0 {
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		return nil
	}
	n := rng.IntN(2*total/s.e.size.kills + 1)
	err := p.WaitFor(fmt.Sprintf("%d answers (or every file finished)", n), 5*time.Minute, func() bool {
		return p.Count("answered") >= n || s.finished() >= total
	})
	time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	return err
}

// burstSpool is a spool with the user's own files in it and a burst of n
// tasks in its inbox, no daemon yet.
func (e *env) burstSpool(prefix string, n int, edit func(*config.Config)) (*spool, error) {
	s, err := e.newSpool(edit)
	if err != nil {
		return nil, err
	}
	if err := s.userFiles(prefix); err != nil {
		return nil, err
	}
	return s, s.burst(prefix, n)
}

// burst drops n labelled ARC tasks at once.
func (s *spool) burst(prefix string, n int) error {
	for i := range n {
		name := fmt.Sprintf("%s-%04d.json", prefix, i)
		if err := s.drop(name, s.e.tasks.task(i, name), wantDone()); err != nil {
			return err
		}
	}
	return nil
}

// userFiles puts the user's own files where the daemon writes (an answer
// in the outbox, an error file and an input in failed/, an input in
// done/), then drops tasks under the names that collide with them: the
// daemon must answer those under other names and leave the user's be.
func (s *spool) userFiles(prefix string) error {
	mine := []byte("the user's own file: hrmd must not replace it\n")
	for i, path := range []string{
		filepath.Join(s.outbox, prefix+"-user-a.json"),
		filepath.Join(s.failed, prefix+"-user-b.json.error.json"),
		filepath.Join(s.failed, prefix+"-user-c.json"),
		filepath.Join(s.done, prefix+"-user-d.json"),
	} {
		if err := s.place(path, append(mine, byte('a'+i))); err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(path), ".error.json")
		if err := s.drop(name, s.e.tasks.task(i, "user "+name), wantDone()); err != nil {
			return err
		}
	}
	return nil
}

// finished counts the inputs in done/ and failed/ (not the error files,
// not the user's own files): polled, so it reads names only.
func (s *spool) finished() int {
	n := 0
	for _, dir := range []string{s.done, s.failed} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".error.json") {
				continue
			}
			if _, mine := s.m.userPath(filepath.Join(dir, name)); !mine {
				n++
			}
		}
	}
	return n
}

// waitFinished waits until n inputs are in done/ and failed/.
func (s *spool) waitFinished(n int, timeout time.Duration) error {
	return hrmdtest.WaitFor(
		fmt.Sprintf("%d files in done/ and failed/", n),
		timeout,
		func() bool { return s.finished() >= n },
	)
}
