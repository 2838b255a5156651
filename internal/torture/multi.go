package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// runMulti: three daemons (instances a, b and c) share one inbox and
// spool; a burst is dropped, b is killed with SIGKILL a third of the way
// through and started again, and every file is answered exactly once.
func runMulti(e *env) (report, error) {
	s, err := e.burstSpool("multi", e.size.multiFiles, func(c *config.Config) {
		c.Inference.MaxBatch = 2
		c.ONNXRuntime.Threads = 1 // three daemons on the same cores
	})
	if err != nil {
		return report{}, err
	}
	total := s.m.dropped()
	procs := map[string][]*hrmd{}
	for _, inst := range []string{"a", "b", "c"} {
		p, err := e.start(s, startOpts{instance: inst})
		if err != nil {
			return report{}, err
		}
		procs[inst] = []*hrmd{p}
	}
	answered := func() int {
		n := 0
		for _, ps := range procs {
			for _, p := range ps {
				n += p.Count("answered")
			}
		}
		return n
	}
	if err := hrmdtest.WaitFor("a third of the files answered", 5*time.Minute, func() bool {
		return answered() >= total/3 || s.finished() >= total
	}); err != nil {
		return report{}, err
	}
	killedAt := answered()
	if err := procs["b"][0].kill9(); err != nil {
		return report{}, err
	}
	b, err := e.start(s, startOpts{instance: "b"})
	if err != nil {
		return report{}, err
	}
	procs["b"] = append(procs["b"], b)
	if err := s.waitFinished(total, 10*time.Minute); err != nil {
		return report{}, err
	}
	for _, inst := range []string{"a", "b", "c"} {
		if err := procs[inst][len(procs[inst])-1].stop(); err != nil {
			e.problem("%v", err)
		}
	}
	v := s.check()
	var by []string
	for _, inst := range []string{"a", "b", "c"} {
		n := 0
		for _, p := range procs[inst] {
			n += p.Count("answered")
		}
		by = append(by, fmt.Sprintf("%s %d", inst, n))
	}
	return report{what: fmt.Sprintf("%d files, 3 daemons, b killed with %d answered and restarted", v.files, killedAt),
		v: v, extra: []string{"answered by " + strings.Join(by, ", ")}}, nil
}
