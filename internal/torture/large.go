package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// runLarge: the largest file the daemon takes (watch.max_file_bytes,
// 4 MiB by default, of 1x1 test inputs), then a normal ARC task behind it.
// Reported, not asserted: the daemon's peak memory (VmHWM) and how long
// the normal task waited.
//
// TODO(issue 12): once the per-file limits are merged, use their largest
// allowed number of test inputs instead of sizes.largeTests (which the
// current code takes minutes over at full size).
func runLarge(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	before, err := p.procStatus("VmHWM")
	if err != nil {
		return report{}, err
	}
	limit := int(s.cfg.Watch.MaxFileBytes)
	data := manyTests("large.json", e.size.largeTests, limit)
	if len(data) != limit {
		return report{}, fmt.Errorf("%d test inputs take %d bytes, over watch.max_file_bytes (%d)", e.size.largeTests, len(data), limit)
	}
	if err := s.drop("large.json", data, wantDone()); err != nil {
		return report{}, err
	}
	if err := p.waitFor("large.json claimed", time.Minute, func() bool {
		_, err := os.Lstat(filepath.Join(s.inbox, "large.json"))
		return errors.Is(err, fs.ErrNotExist)
	}); err != nil {
		return report{}, err
	}
	if err := s.drop("normal.json", e.tasks.task(0, "normal.json"), wantDone()); err != nil {
		return report{}, err
	}
	dropped := time.Now()
	return (&largeRun{e: e, s: s, p: p, before: before}).finish(dropped)
}

type largeRun struct {
	e      *env
	s      *spool
	p      *hrmd
	before int64 // VmHWM before the large file
}

// finish waits for both files and reports the figures.
func (l *largeRun) finish(dropped time.Time) (report, error) {
	normal, err := l.answered("normal.json")
	if err != nil {
		return report{}, err
	}
	large, err := l.answered("large.json")
	if err != nil {
		return report{}, err
	}
	hwm, err := l.p.procStatus("VmHWM")
	if err != nil {
		return report{}, err
	}
	if err := l.p.stop(); err != nil {
		l.e.problem("%v", err)
	}
	v := l.s.check()
	order := "after"
	if normal.at.Before(large.at) {
		order = "before"
	}
	return report{what: fmt.Sprintf("%d files", v.files), v: v, extra: []string{
		fmt.Sprintf("large.json %.1f MiB with %d test inputs answered in %.1f s (latency_ms)", float64(l.s.cfg.Watch.MaxFileBytes)/(1<<20), l.e.size.largeTests, num(large, "latency_ms")/1e3),
		fmt.Sprintf("max RSS (VmHWM) %d MiB (%d MiB before it)", hwm>>20, l.before>>20),
		fmt.Sprintf("normal.json behind it answered %.1f s after its drop (waited_ms %.0f), %s large.json", normal.at.Sub(dropped).Seconds(), num(normal, "waited_ms"), order),
	}}, nil
}

// answered waits for a file's "answered" log line.
func (l *largeRun) answered(name string) (logLine, error) {
	var line logLine
	err := l.p.waitFor(name+" answered", 20*time.Minute, func() bool {
		for _, a := range l.p.find("answered") {
			if a.fields["name"] == name {
				line = a
				return true
			}
		}
		return false
	})
	return line, err
}

func num(l logLine, field string) float64 {
	f, _ := l.fields[field].(float64)
	return f
}
