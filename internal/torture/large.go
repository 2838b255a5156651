package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// runLarge is what one file at the limits costs the daemon and the files
// behind it. First tiny-inputs.json, one task of 1x1 test inputs filling
// watch.max_file_bytes (over 260,000 at 4 MiB), which the limits must
// refuse (too_many_test_inputs) before any batch runs. Then the largest
// file the limits let through (largest), and a normal ARC task dropped as
// soon as the daemon has claimed it: the normal task must be answered
// before the large file is (one large file must not hold the others back
// for long). That is an order of two log lines, not a time. Reported:
// the daemon's peak memory (VmHWM) before and after each, the large file's
// time, the normal task's wait.
func runLarge(e *env) (report, error) {
	s, p, err := e.ready(func(c *config.Config) {
		if e.size.largeRows > 0 {
			c.Watch.MaxRows = e.size.largeRows
		}
	}, startOpts{})
	if err != nil {
		return report{}, err
	}
	l := &largeRun{e: e, s: s, p: p}
	before, err := p.procStatus("VmHWM")
	if err != nil {
		return report{}, err
	}
	tiny, err := l.tinyInputs()
	if err != nil {
		return report{}, err
	}
	large, err := l.largest()
	if err != nil {
		return report{}, err
	}
	hwm, err := p.procStatus("VmHWM")
	if err != nil {
		return report{}, err
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{what: fmt.Sprintf("%d files", v.files), v: v, extra: append([]string{tiny}, append(
		large,
		fmt.Sprintf(
			"max RSS (VmHWM) %d MiB (%d MiB before both, %d MiB after tiny-inputs.json)",
			hwm>>20,
			before>>20,
			l.tinyHWM>>20,
		),
	)...)}, nil
}

type largeRun struct {
	e       *env
	s       *spool
	p       *hrmd
	tinyHWM int64 // VmHWM once tiny-inputs.json was refused
}

// tinyInputs drops tiny-inputs.json and waits for it to be refused; no
// batch may have run meanwhile (nothing else is in the spool).
func (l *largeRun) tinyInputs() (string, error) {
	size := int(l.s.cfg.Watch.MaxFileBytes)
	data, n := fillTests("tiny-inputs.json", size)
	batches, err := l.p.Metric("hrmd_batch_size_count")
	if err != nil {
		return "", err
	}
	if err := l.s.drop("tiny-inputs.json", data, wantFailed(puzzles.CodeTooManyTestInputs)); err != nil {
		return "", err
	}
	dropped := time.Now()
	line, err := l.outcome("tiny-inputs.json")
	if err != nil {
		return "", err
	}
	after, err := l.p.Metric("hrmd_batch_size_count")
	if err != nil {
		return "", err
	}
	if after != batches {
		l.e.problem(
			"%.0f batches ran before tiny-inputs.json was refused, want none (the limits are checked as it is read)",
			after-batches,
		)
	}
	if l.tinyHWM, err = l.p.procStatus("VmHWM"); err != nil {
		return "", err
	}
	return fmt.Sprintf("tiny-inputs.json %.1f MiB of %d 1x1 test inputs %s %v %.1f s after its drop, no batch run",
		float64(len(data))/(1<<20), n, line.Fields["msg"], line.Fields["code"], line.At.Sub(dropped).Seconds()), nil
}

// largest drops large.json, the largest file the limits let through, and
// normal.json once it is claimed, and waits for both.
func (l *largeRun) largest() ([]string, error) {
	data, shape, err := largestFile(l.s.cfg)
	if err != nil {
		return nil, err
	}
	if err := l.s.drop("large.json", data, wantDone()); err != nil {
		return nil, err
	}
	if err := l.p.WaitFor("large.json claimed", time.Minute, func() bool {
		_, err := os.Lstat(filepath.Join(l.s.inbox, "large.json"))
		return errors.Is(err, fs.ErrNotExist)
	}); err != nil {
		return nil, err
	}
	if err := l.s.drop("normal.json", l.e.tasks.task(0, "normal.json"), wantDone()); err != nil {
		return nil, err
	}
	dropped := time.Now()
	normal, err := l.outcome("normal.json")
	if err != nil {
		return nil, err
	}
	large, err := l.outcome("large.json")
	if err != nil {
		return nil, err
	}
	order := "before"
	if normal.Seq > large.Seq {
		order = "AFTER"
		l.e.problem(
			"normal.json was answered after large.json: one large file held it back for all of its rows (one large file must " +
				"not hold the others back for long)",
		)
	}
	return []string{
		fmt.Sprintf("large.json %.1f MiB of %s answered in %.1f s (waited_ms; latency_ms %.0f)",
			float64(len(data))/(1<<20), shape, num(large, "waited_ms")/1e3, num(large, "latency_ms")),
		fmt.Sprintf("normal.json dropped behind it answered %s it, %.1f s after its drop (waited_ms %.0f)",
			order, normal.At.Sub(dropped).Seconds(), num(normal, "waited_ms")),
	}, nil
}

// largestFile is the largest file cfg's limits let through: as many tasks
// of watch.max_test_inputs test inputs as watch.max_rows allows (and
// watch.max_tasks), of the largest square grids that keep it within
// watch.max_file_bytes; and what it holds, in words.
func largestFile(cfg config.Config) ([]byte, string, error) {
	w := cfg.Watch
	perTask := w.MaxTestInputs
	// No demonstrations, so the demo check adds no rows.
	rows := perTask * (1 + cfg.Inference.Augmentations)
	tasks := min(w.MaxRows/rows, w.MaxTasks)
	if tasks < 2 {
		return nil, "", fmt.Errorf(
			"watch.max_rows %d leaves room for %d tasks of %d test inputs, want a multi-task file",
			w.MaxRows,
			tasks,
			perTask,
		)
	}
	for side := puzzles.MaxSide; side > 0; side-- {
		if data := bundle("large", tasks, 0, perTask, side, int(w.MaxFileBytes)); data != nil {
			return data, fmt.Sprintf("%d tasks x %d test inputs of %dx%d grids (%d rows, watch.max_rows %d)",
				tasks, perTask, side, side, tasks*rows, w.MaxRows), nil
		}
	}
	return nil, "", fmt.Errorf(
		"no %d tasks of %d test inputs fit in watch.max_file_bytes %d",
		tasks,
		perTask,
		w.MaxFileBytes,
	)
}

// outcome waits for a file's "answered" or "failed" log line.
func (l *largeRun) outcome(name string) (hrmdtest.Line, error) {
	var line hrmdtest.Line
	err := l.p.WaitFor(name+" answered or failed", 20*time.Minute, func() bool {
		for _, a := range append(l.p.Events("answered"), l.p.Events("failed")...) {
			if a.Fields["name"] == name {
				line = a
				return true
			}
		}
		return false
	})
	return line, err
}

func num(l hrmdtest.Line, field string) float64 {
	f, _ := l.Fields[field].(float64)
	return f
}
