package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
)

// twentyRSSGrowth is the bound docs/service.md ("Limits on one file") gives
// what a burst of the largest files adds to the daemon's memory.
const twentyRSSGrowth = 300 << 20

// runTwenty: twenty files (twelve) at once, each as large in memory as the limits
// let a file be (watch.max_file_bytes of 30x30 grids: every task with
// watch.max_train_pairs demonstrations and one test input, so a file runs
// few rows and the burst is answered in seconds), the daemon's RSS sampled
// every 100 ms. The memory budget must hold its growth within
// twentyRSSGrowth.
func runTwenty(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	before, err := p.procStatus("VmRSS")
	if err != nil {
		return report{}, err
	}
	data, shape, err := fullestFile(s.cfg)
	if err != nil {
		return report{}, err
	}
	peak, queued := before, 0.0
	rss := poll(100*time.Millisecond, func() {
		if n, err := p.procStatus("VmRSS"); err == nil {
			peak = max(peak, n)
		}
		if q, err := p.Metric("hrmd_queued_file_bytes"); err == nil {
			queued = max(queued, q)
		}
	})
	defer rss.end()
	for i := range e.size.twentyFiles {
		if err := s.drop(fmt.Sprintf("twenty-%02d.json", i), data, wantDone()); err != nil {
			return report{}, err
		}
	}
	if err := p.WaitFor("every file "+
		"answered", 10*time.Minute, func() bool { return s.finished() >= s.m.dropped() }); err != nil {
		return report{}, err
	}
	rss.end()
	if peak-before > twentyRSSGrowth {
		e.problem("RSS grew by %d MiB (from %d to %d MiB) with %d files of %.1f MiB, over the documented %d MiB",
			(peak-before)>>20, before>>20, peak>>20, e.size.twentyFiles, float64(len(data))/(1<<20), twentyRSSGrowth>>20)
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{what: fmt.Sprintf("%d files of %.1f MiB (%s)", v.files, float64(len(data))/(1<<20), shape), v: v,
		extra: []string{
			fmt.Sprintf("RSS %d MiB before, at most %d MiB (+%d MiB, limit +%d MiB); hrmd_queued_file_bytes at most %.1f MiB",
				before>>20, peak>>20, (peak-before)>>20, twentyRSSGrowth>>20, queued/(1<<20)),
		}}, nil
}

// fullestFile is a file of as many 30x30 grids as cfg's limits let
// through: tasks of watch.max_train_pairs demonstrations and one test input
// each, as many as fit in watch.max_file_bytes (and watch.max_tasks).
func fullestFile(cfg config.Config) ([]byte, string, error) {
	w := cfg.Watch
	var b bytes.Buffer
	b.WriteByte('{')
	tasks := 0
	for ; tasks < w.MaxTasks; tasks++ {
		var t bytes.Buffer
		if tasks > 0 {
			t.WriteByte(',')
		}
		fmt.Fprintf(&t, `"fullest-%04d":{"train":[`, tasks)
		for i := range w.MaxTrainPairs {
			if i > 0 {
				t.WriteByte(',')
			}
			t.WriteString(`{"input":`)
			writeGrid(&t, 30, tasks+i)
			t.WriteString(`,"output":`)
			writeGrid(&t, 30, tasks+i+1)
			t.WriteByte('}')
		}
		t.WriteString(`],"test":[{"input":`)
		writeGrid(&t, 30, tasks)
		t.WriteString("}]}")
		if int64(b.Len()+t.Len()+len("}\n")) > w.MaxFileBytes {
			break
		}
		b.Write(t.Bytes())
	}
	b.WriteString("}\n")
	if tasks == 0 {
		return nil, "", fmt.Errorf(
			"no task of %d 30x30 demonstrations fits in watch.max_file_bytes %d",
			w.MaxTrainPairs,
			w.MaxFileBytes,
		)
	}
	return b.Bytes(), fmt.Sprintf("%d tasks of %d 30x30 demonstrations and a test input", tasks, w.MaxTrainPairs), nil
}
