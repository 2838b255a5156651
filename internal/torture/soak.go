package main

import (
	"fmt"
	"time"
)

// usage is one sample of what the daemon holds.
type usage struct {
	rss        int64 // bytes (VmRSS)
	fds        int
	goroutines int // go_goroutines on /metrics
}

// usage is what the daemon holds now.
func (p *hrmd) usage() (usage, error) {
	rss, err := p.procStatus("VmRSS")
	if err != nil {
		return usage{}, err
	}
	fds, err := p.fds()
	if err != nil {
		return usage{}, err
	}
	g, err := p.Metric("go_goroutines")
	return usage{rss, fds, int(g)}, err
}

// runSoak: a steady stream of files (a few always waiting), the daemon's
// memory, descriptors and goroutines sampled every second. A leak shows as
// the last third of the run holding far more than the first.
func runSoak(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	var samples []usage
	w := poll(time.Second, func() {
		if u, err := p.usage(); err == nil {
			samples = append(samples, u)
		}
	})
	f := &feeder{s: s, p: p, prefix: "soak"}
	n := e.size.soakFiles
	if err := p.WaitFor(fmt.Sprintf("%d files dropped and answered", n), 30*time.Minute, func() bool {
		if err := f.feed(8, n); err != nil {
			return false
		}
		return f.dropped == n && p.Count("answered")+p.Count("failed") >= n
	}); err != nil {
		w.end()
		return report{}, err
	}
	w.end()
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	for _, l := range leaks(samples) {
		e.problem("%s", l)
	}
	v := s.check()
	return report{
		what:  fmt.Sprintf("%d files, %d samples", v.files, len(samples)),
		v:     v,
		extra: usageFigures(samples),
	}, nil
}

// leaks compares the largest use in the last third of the samples with
// that of the first third; the margins are wide: a leak, not noise.
func leaks(samples []usage) []string {
	if len(samples) < 6 {
		return nil
	}
	first, last := peak(samples[:len(samples)/3]), peak(samples[len(samples)*2/3:])
	var out []string
	if last.fds > first.fds+50 {
		out = append(
			out,
			fmt.Sprintf("descriptors grew from at most %d (first third) to %d (last third): a leak?", first.fds, last.fds),
		)
	}
	if last.goroutines > first.goroutines+50 {
		out = append(
			out,
			fmt.Sprintf(
				"goroutines grew from at most %d (first third) to %d (last third): a leak?",
				first.goroutines,
				last.goroutines,
			),
		)
	}
	if float64(last.rss) > 1.5*float64(first.rss) {
		out = append(
			out,
			fmt.Sprintf(
				"RSS grew from at most %d MiB (first third) to %d MiB (last third): a leak?",
				first.rss>>20,
				last.rss>>20,
			),
		)
	}
	return out
}

func peak(samples []usage) usage {
	var m usage
	for _, s := range samples {
		m.rss, m.fds, m.goroutines = max(m.rss, s.rss), max(m.fds, s.fds), max(m.goroutines, s.goroutines)
	}
	return m
}

// usageFigures are first/max/last of each measure.
func usageFigures(samples []usage) []string {
	if len(samples) == 0 {
		return []string{"no usage samples"}
	}
	first, top, last := samples[0], peak(samples), samples[len(samples)-1]
	return []string{
		fmt.Sprintf("RSS first/max/last %d/%d/%d MiB", first.rss>>20, top.rss>>20, last.rss>>20),
		fmt.Sprintf("fds %d/%d/%d", first.fds, top.fds, last.fds),
		fmt.Sprintf("goroutines %d/%d/%d", first.goroutines, top.goroutines, last.goroutines),
	}
}
