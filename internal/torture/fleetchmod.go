package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// runFleetChmod: a gateway and two workers over the three-server cluster,
// while a loop changes every file in the gateway's work/ without changing
// its content: chmod, touch, a hard link made and removed (what an admin,
// a backup or an ACL tool does). Half the files are published with no
// worker up, changed, and published again by a restarted gateway; then the
// workers start and the other half is dropped with the loop still going.
// Every file must be answered once, no answer taken for stale, nothing
// lost, twice or left in work/.
func runFleetChmod(e *env) (report, error) {
	tasks, err := loadFleetTasks(e.o.fleetArc)
	if err != nil {
		return report{}, err
	}
	tasks = tasks[:min(len(tasks), e.size.chmodFiles)]
	c, err := e.startCluster()
	if c != nil {
		defer c.Kill()
	}
	if err != nil {
		return report{}, err
	}
	f, err := e.newFleet(c, "hrmd_chmod", 2)
	if err != nil {
		return report{}, err
	}
	if err := f.startGateway(); err != nil {
		return report{}, err
	}
	first, second := tasks[:len(tasks)/2], tasks[len(tasks)/2:]
	if err := f.dropBurst(first); err != nil {
		return report{}, err
	}
	gw := f.gateway[len(f.gateway)-1]
	allInFlight := func(v float64) bool { return int(v) == len(first) }
	if _, err := gw.WaitMetric("hrmd_fleet_in_flight", 2*time.Minute, allInFlight); err != nil {
		return report{}, err
	}
	m := &workMangler{dir: filepath.Join(f.gw.work, f.tag+"-gateway"), linkDir: filepath.Join(e.dir, "links")}
	if err := os.MkdirAll(m.linkDir, 0o755); err != nil {
		return report{}, err
	}
	m.pass()
	stale := f.staleAnswers(gw)
	f.sample(gw)
	if err := gw.stop(); err != nil {
		return report{}, err
	}
	if err := f.startGateway(); err != nil {
		return report{}, err
	}
	m.pass()
	stop := m.run()
	start := time.Now()
	for _, name := range f.names {
		if err := f.startWorker(name); err != nil {
			stop()
			return report{}, err
		}
	}
	if err := f.dropBurst(second); err != nil {
		stop()
		return report{}, err
	}
	err = f.waitFinished(len(tasks), 5*time.Minute)
	stop()
	if err != nil {
		return report{}, err
	}
	wall := time.Since(start)
	gw = f.gateway[len(f.gateway)-1]
	stale += f.staleAnswers(gw)
	f.stop()
	f.checkWorkerSpools()
	v := f.gw.check()
	by, _ := f.byWorker()
	if stale > 0 {
		f.e.problem("%s: %d answers taken for stale after files in work/ were changed but not their content", f.tag, stale)
	}
	s := f.sums
	return report{what: fmt.Sprintf("%d files through a gateway (restarted once) and 2 workers while their work/ "+
		"files were changed: %d chmods, %d touches, %d hard links", v.files, m.chmods, m.touches, m.linked),
		v: v, extra: []string{outcomes(v.outcomes), "by worker: " + by,
			fmt.Sprintf("stale answers %d, duplicate answers dropped %.0f, puzzles published again as duplicates %.0f",
				stale, s["answers dropped"], s["puzzles deduplicated"]),
			fmt.Sprintf("wall %.1f s from the workers' start to the last file finished", wall.Seconds())},
	}, nil
}

// staleAnswers reads a gateway's count of answers taken for stale.
func (f *fleet) staleAnswers(p *hrmd) int {
	code, body, err := p.Get("/metrics")
	if err != nil || code != http.StatusOK {
		f.e.problem("hrmd %s's /metrics: %d, %v", p.instance, code, err)
		return 0
	}
	v, found := metricSum(body, "hrmd_fleet_answers_received_total", map[string]string{"result": "stale"})
	if !found {
		f.e.problem("hrmd %s's /metrics has no hrmd_fleet_answers_received_total{result=\"stale\"}", p.instance)
	}
	return int(v)
}

// workMangler changes the files of a work/ folder but not their content.
type workMangler struct {
	dir, linkDir            string
	chmods, touches, linked int
	n                       int
}

// pass changes each file once: in turn a chmod, a touch, or a hard link
// made elsewhere (and the previous one removed).
func (m *workMangler) pass() {
	entries, _ := os.ReadDir(m.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(m.dir, e.Name())
		m.n++
		switch m.n % 3 {
		case 0:
			if os.Chmod(path, []os.FileMode{0o600, 0o444, 0o640}[m.n/3%3]) == nil {
				m.chmods++
			}
		case 1:
			at := time.Now().Add(-time.Duration(m.n) * time.Minute)
			if os.Chtimes(path, at, at) == nil {
				m.touches++
			}
		default:
			link := filepath.Join(m.linkDir, fmt.Sprint(m.n))
			if os.Link(path, link) == nil {
				m.linked++
				_ = os.Remove(link) // the link count changes twice
			}
		}
	}
}

// run changes the files over and over until the returned stop is called.
// A pass every 300 ms leaves a claimed file the quiet of the settle time
// (100 ms here) it needs before it is read: a file whose mode or
// modification time keeps changing right after its claim is taken for
// one still being written, and waits.
func (m *workMangler) run() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(300 * time.Millisecond):
			}
			m.pass()
		}
	}()
	return func() { close(done); wg.Wait() }
}
