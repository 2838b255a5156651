package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/puzzles"
)

// feeder keeps a daemon supplied: files are dropped as others finish, so
// that a few always wait.
type feeder struct {
	s       *spool
	p       *hrmd
	prefix  string
	dropped int
	names   []string
}

// feed drops tasks until waiting files are dropped and not yet finished
// (by this daemon's log), or limit are dropped (0: no limit).
func (f *feeder) feed(waiting, limit int) error {
	for f.dropped-f.p.Count("answered")-f.p.Count("failed") < waiting && (limit == 0 || f.dropped < limit) {
		name := fmt.Sprintf("%s-%05d.json", f.prefix, f.dropped)
		if err := f.s.drop(name, f.s.e.tasks.task(f.dropped, name), wantDone()); err != nil {
			return err
		}
		f.names = append(f.names, name)
		f.dropped++
	}
	return nil
}

// bundleName is a model bundle's name, as answers give it.
func bundleName(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "hrm.yaml"))
	if err != nil {
		return "", err
	}
	var m struct{ Name string }
	if err := yaml.Unmarshal(data, &m); err != nil || m.Name == "" {
		return "", fmt.Errorf("%s/hrm.yaml: no name (%v)", dir, err)
	}
	return m.Name, nil
}

// runSighup: while files flow, bursts of SIGHUPs, the config switched
// between two models before each; after each burst a file is answered by
// the burst's last model. Every file is answered exactly once, by one of
// the two, and no reload fails.
func runSighup(e *env) (report, error) {
	models := []string{e.o.model, e.o.zeroModel}
	names := make([]string, 2)
	for i, m := range models {
		var err error
		if names[i], err = bundleName(m); err != nil {
			return report{}, err
		}
	}
	s, p, err := e.ready(func(c *config.Config) { c.Inference.MaxBatch = 2 }, startOpts{})
	if err != nil {
		return report{}, err
	}
	f := &feeder{s: s, p: p, prefix: "hup"}
	hups := 0
	for burst := 0; hups < e.size.hups; burst++ {
		for i := range 5 {
			cfg := s.cfg
			cfg.Model = models[(burst+i)%2] // the burst's last (i = 4) is models[burst%2]
			if err := s.writeConfig(cfg); err != nil {
				return report{}, err
			}
			if err := p.Signal(syscall.SIGHUP); err != nil {
				return report{}, err
			}
			hups++
			if err := f.feed(10, 0); err != nil {
				return report{}, err
			}
		}
		if err := f.answeredBy(names[burst%2], f.dropped); err != nil {
			return report{}, err
		}
	}
	return f.finish(hups, names)
}

// answeredBy feeds files until one dropped at from or later is answered by
// the model named name: the last reload has come into force.
func (f *feeder) answeredBy(name string, from int) error {
	return f.p.WaitFor("a file answered by "+name, 5*time.Minute, func() bool {
		if f.feed(10, 0) != nil {
			return false
		}
		for _, n := range f.names[from:] {
			if a, err := readAnswer(filepath.Join(f.s.outbox, n)); err == nil && a.Model.Name == name {
				return true
			}
		}
		return false
	})
}

func readAnswer(path string) (puzzles.AnswerFile, error) {
	var a puzzles.AnswerFile
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &a)
	}
	return a, err
}

// finish waits for the files, stops the daemon and checks: the spool, the
// reloads, and which model answered each file.
func (f *feeder) finish(hups int, models []string) (report, error) {
	s, p := f.s, f.p
	if err := p.WaitFor("every file "+
		"answered", 5*time.Minute, func() bool { return s.finished() >= f.dropped }); err != nil {
		return report{}, err
	}
	ok, err := p.Metric(`hrmd_reloads_total{result="ok"}`)
	if err != nil {
		return report{}, err
	}
	failed, err := p.Metric(`hrmd_reloads_total{result="failed"}`)
	if err != nil {
		return report{}, err
	}
	if failed > 0 {
		s.e.problem("%g reloads failed (the log: %s)", failed, p.LogPath())
	}
	if err := p.stop(); err != nil {
		s.e.problem("%v", err)
	}
	by := map[string]int{}
	for _, n := range f.names {
		a, err := readAnswer(filepath.Join(s.outbox, n))
		if err == nil && a.Model.Name != models[0] && a.Model.Name != models[1] {
			s.e.problem("%s was answered by %q, neither %s nor %s", n, a.Model.Name, models[0], models[1])
		}
		by[a.Model.Name]++
	}
	v := s.check()
	var parts []string
	for _, m := range models {
		parts = append(parts, fmt.Sprintf("%s %d", m, by[m]))
	}
	return report{what: fmt.Sprintf("%d files, %d SIGHUPs", v.files, hups), v: v, extra: []string{
		fmt.Sprintf("reloads %g ok, %g failed", ok, failed), "answered by " + strings.Join(parts, ", ")}}, nil
}
