package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// loadFleetTasks reads the real ARC tasks of dir/training and
// dir/evaluation, dropped as they are, under their own names.
func loadFleetTasks(dir string) ([]fleetFile, error) {
	var paths []string
	for _, set := range []string{"training", "evaluation"} {
		found, err := filepath.Glob(filepath.Join(dir, set, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("the fleet's tasks: %w", err)
		}
		paths = append(paths, found...)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no ARC tasks in %s/training or %s/evaluation (-fleet-arc)", dir, dir)
	}
	var tasks []fleetFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("the fleet's tasks: %w", err)
		}
		tasks = append(tasks, fleetFile{name: filepath.Base(p), data: data})
	}
	return tasks, nil
}

// runFleet: three nats-servers on 127.0.0.1 forming a JetStream cluster,
// a gateway hrmd and three workers on it; the fleet's tasks and ten bad
// files dropped into the gateway's inbox in five bursts, and mid-run a
// worker, the server leading the puzzles' stream and the gateway killed
// with SIGKILL, each started again later. Every file must end in exactly
// one of done/ or failed/, with exactly one answer, nothing written twice,
// and every worker must have answered some. Then the same tasks through
// one worker (and, in the full version, three with no kills), for the
// wall times.
func runFleet(e *env) (report, error) {
	tasks, err := loadFleetTasks(e.o.fleetArc)
	if err != nil {
		return report{}, err
	}
	c, err := e.startCluster()
	if c != nil {
		defer c.Kill()
	}
	if err != nil {
		return report{}, err
	}
	f, err := e.newFleet(c, "hrmd", 3)
	if err != nil {
		return report{}, err
	}
	rep, err := f.chaos(tasks, badFiles(f.gw.cfg.Watch.MaxFileBytes))
	if err != nil {
		return report{}, err
	}
	for _, workers := range e.size.fleetClean {
		line, v, err := e.cleanRun(c, tasks, workers)
		if err != nil {
			return report{}, err
		}
		rep.v = mergeVerdicts(rep.v, v)
		rep.extra = append(rep.extra, line)
	}
	return rep, nil
}

// startCluster starts three nats-servers in the scenario's folder and
// waits until they are healthy and agree on a meta leader. The cluster
// comes back with an error too when some of it started: the caller kills it.
func (e *env) startCluster() (*hrmdtest.NATSCluster, error) {
	c, err := hrmdtest.StartNATSCluster(e.o.natsServer, filepath.Join(e.dir, "nats"), 3)
	if err != nil {
		return c, err
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		return c, err
	}
	_, err = c.WaitMeta(2 * time.Minute)
	return c, err
}

// chaos is the first phase: the bursts, the kills, the report.
func (f *fleet) chaos(tasks, bad []fleetFile) (report, error) {
	if err := f.start(); err != nil {
		return report{}, err
	}
	bursts := f.bursts(tasks, bad, 5)
	start := time.Now()
	var did []string
	for i, step := range []func() (string, error){f.killWorker, f.killServer, f.restartServer, f.killGateway} {
		if err := f.dropBurst(bursts[i]); err != nil {
			return report{}, err
		}
		// A random moment while the burst is being answered.
		dropped := f.gw.m.dropped()
		if err := f.waitFinished(dropped-len(bursts[i])*(1+f.e.rng.IntN(3))/4, 10*time.Minute); err != nil {
			return report{}, err
		}
		what, err := step()
		if err != nil {
			return report{}, err
		}
		did = append(did, what)
	}
	// The last burst lands while the gateway is down.
	if err := f.dropBurst(bursts[4]); err != nil {
		return report{}, err
	}
	if err := f.startGateway(); err != nil {
		return report{}, err
	}
	total := f.gw.m.dropped()
	if err := f.waitFinished(total, 10*time.Minute); err != nil {
		return report{}, err
	}
	wall := time.Since(start)
	f.stop()
	f.checkWorkerSpools()
	v := f.gw.check()
	extra := append(f.tally(v), fmt.Sprintf("wall %.1f s (with the kills and restarts)", wall.Seconds()))
	return report{what: fmt.Sprintf("%d files (%d ARC tasks, %d bad), a gateway and %d workers over %d nats-servers; %s",
		v.files, len(tasks), len(bad), len(f.names), len(f.c.Servers), strings.Join(did, ", ")), v: v, extra: extra}, nil
}

// bursts splits the tasks and the bad files into n bursts, the bad files
// spread among them.
func (f *fleet) bursts(tasks, bad []fleetFile, n int) [][]fleetFile {
	all := slices.Clone(tasks)
	for i, b := range bad {
		at := min(len(all), (i+1)*len(all)/(len(bad)+1))
		all = slices.Insert(all, at, b)
	}
	out := make([][]fleetFile, n)
	for i, b := range all {
		out[i*n/len(all)] = append(out[i*n/len(all)], b)
	}
	return out
}

// dropBurst drops the files of a burst: a task must be answered, a bad
// file must fail with its code.
func (f *fleet) dropBurst(burst []fleetFile) error {
	for _, b := range burst {
		w := wantDone()
		if b.code != "" {
			w = wantFailed(b.code)
		}
		if err := f.gw.drop(b.name, b.data, w); err != nil {
			return err
		}
	}
	return nil
}

// killWorker kills the second worker; the next step starts it again.
func (f *fleet) killWorker() (string, error) {
	name := f.names[1]
	ps := f.workers[name]
	at := f.gw.finished()
	return fmt.Sprintf("%s killed at %d finished", name, at), f.kill9(ps[len(ps)-1])
}

// killServer starts the killed worker again, then kills the server that
// leads the puzzles' stream (any, when no server names a leader) and
// waits for the two left to agree on a meta leader.
func (f *fleet) killServer() (string, error) {
	if err := f.startWorker(f.names[1]); err != nil {
		return "", err
	}
	at := f.gw.finished()
	what := "the " + f.q.Stream + " leader"
	s := f.c.Server(f.c.StreamLeader(f.q.Stream))
	if s == nil {
		s, what = f.c.Servers[f.e.rng.IntN(len(f.c.Servers))], "no stream leader named, so at random"
	}
	if err := s.Kill9(); err != nil {
		return "", err
	}
	if _, err := f.c.WaitMeta(2 * time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s restarted, nats-server %s (%s) killed at %d finished", f.names[1], s.Name, what, at), nil
}

// restartServer starts the killed server again on its store and waits
// until it is healthy and a current peer.
func (f *fleet) restartServer() (string, error) {
	i := slices.IndexFunc(f.c.Servers, func(s *hrmdtest.NATSServer) bool { return !s.Running() })
	if i < 0 {
		return "", fmt.Errorf("no nats-server is down to start again")
	}
	s := f.c.Servers[i]
	at := f.gw.finished()
	if err := s.Start(); err != nil {
		return "", err
	}
	start := time.Now()
	if err := f.c.WaitHealthy(2 * time.Minute); err != nil {
		return "", err
	}
	if _, err := f.c.WaitMeta(2 * time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf(
		"%s restarted at %d finished (healthy and current in %.1f s)",
		s.Name,
		at,
		time.Since(start).Seconds(),
	), nil
}

// killGateway kills the gateway; the last burst is dropped before it
// starts again.
func (f *fleet) killGateway() (string, error) {
	at := f.gw.finished()
	return fmt.Sprintf("the gateway killed at %d finished, the last burst dropped, the gateway restarted", at),
		f.kill9(f.gateway[len(f.gateway)-1])
}

// mergeVerdicts adds the counts and problems of two phases' checks.
func mergeVerdicts(a, b verdict) verdict {
	out := verdict{files: a.files + b.files, lost: a.lost + b.lost, twice: a.twice + b.twice,
		overwritten: a.overwritten + b.overwritten, stuck: a.stuck + b.stuck, outcomes: map[string]int{},
		problems: append(slices.Clone(a.problems), b.problems...)}
	maps.Copy(out.outcomes, a.outcomes)
	for k, n := range b.outcomes {
		out.outcomes[k] += n
	}
	return out
}

// cleanRun is a later phase: a gateway and n workers of its own on the
// same cluster, the tasks dropped at once, no kills; its line says how
// long they took from the first drop to the last file finished.
func (e *env) cleanRun(c *hrmdtest.NATSCluster, tasks []fleetFile, workers int) (string, verdict, error) {
	f, err := e.newFleet(c, fmt.Sprintf("hrmd_clean%d", workers), workers)
	if err != nil {
		return "", verdict{}, err
	}
	if err := f.start(); err != nil {
		return "", verdict{}, err
	}
	start := time.Now()
	if err := f.dropBurst(tasks); err != nil {
		return "", verdict{}, err
	}
	if err := f.waitFinished(len(tasks), 20*time.Minute); err != nil {
		return "", verdict{}, err
	}
	wall := time.Since(start)
	f.stop()
	f.checkWorkerSpools()
	v := f.gw.check()
	by, _ := f.byWorker()
	return fmt.Sprintf("%d worker(s), no kills: %d files in %.1f s (%s)", workers, v.files, wall.Seconds(), by), v, nil
}

// byWorker lists how many files each worker answered or failed, as the
// gateway's "answered" and "failed" lines (field worker) say, and how many
// of those came after a redelivery (field attempt over 1). A worker with
// none, or a file the gateway wrote twice, is a problem.
func (f *fleet) byWorker() (string, int) {
	by, written, redone := map[string]int{}, map[string]int{}, 0
	for _, p := range f.gateway {
		for _, l := range append(p.Events("answered"), p.Events("failed")...) {
			name, _ := l.Fields["name"].(string)
			written[name]++
			worker, _ := l.Fields["worker"].(string)
			by[worker]++
			if a, _ := l.Fields["attempt"].(float64); a > 1 {
				redone++
			}
		}
	}
	for name, n := range written {
		if n > 1 {
			f.e.problem("%s: the gateway wrote %q %d times (its answered and failed lines)", f.tag, name, n)
		}
	}
	var parts []string
	for _, w := range f.names {
		if by[w] == 0 {
			f.e.problem("%s: worker %s answered no file (the gateway's lines name none)", f.tag, w)
		}
		parts = append(parts, fmt.Sprintf("%s %d", w, by[w]))
		delete(by, w)
	}
	for _, w := range slices.Sorted(maps.Keys(by)) {
		label := w
		if w == "" { // a file the gateway refused itself (too big)
			label = "the gateway itself"
		}
		parts = append(parts, fmt.Sprintf("%s %d", label, by[w]))
	}
	return strings.Join(parts, ", "), redone
}

// tally is the chaos phase's figures: outcomes, files by worker, work
// the workers did (a file redone after a kill or an expired ack wait
// counts again), duplicates suppressed and redeliveries.
func (f *fleet) tally(v verdict) []string {
	by, redone := f.byWorker()
	work := 0
	for _, name := range f.names {
		for _, p := range f.workers[name] {
			work += p.Count("answered") + p.Count("failed")
		}
	}
	dropped, stale := 0, 0
	for _, p := range f.gateway {
		dropped += p.Count("duplicate_answer")
		stale += p.Count("stale_answer")
	}
	s := f.sums
	return []string{outcomes(v.outcomes), "by worker: " + by,
		fmt.Sprintf("the workers answered or failed %d files (the gateway wrote %d)", work, f.gw.finished()),
		fmt.Sprintf(
			"duplicates suppressed: %d answers dropped by the gateway (%.0f by its metric; and %d stale), %.0f answer and "+
				"%.0f puzzle publishes deduplicated by JetStream",
			dropped,
			s["answers dropped"],
			stale,
			s["answers deduplicated"],
			s["puzzles deduplicated"],
		),
		fmt.Sprintf(
			"redeliveries: %.0f (workers' metric), %d files written after one (attempt > 1)",
			s["redeliveries"],
			redone,
		)}
}
