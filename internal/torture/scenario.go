package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// scenario is one way of abusing the daemon. run sets up its spool, runs
// hrmd, does its abuse and returns what the checker found; an error is a
// step that could not be taken at all (the daemon never became ready, say).
type scenario struct {
	name string
	// root is for scenarios that mount filesystems: they need root and
	// these tools, else they are skipped (or fail under -require-root).
	root []string
	// nats is for the fleet scenario: it needs a nats-server (-nats-server),
	// else it is skipped (or fails under -require-root); it takes minutes,
	// so it runs only when -only names it (./build.sh fleet-test).
	nats  bool
	run   func(*env) (report, error)
	about string // for -h
}

func scenarios() []scenario {
	return []scenario{
		{name: "kill9", run: runKill9, about: "kill -9 at random moments of a burst, restarting each time"},
		{name: "multi", run: runMulti, about: "three daemons on one spool, one killed mid-way and restarted"},
		{name: "hostile", run: runHostile,
			about: "links, FIFO, device, folder, huge, deep, odd names, empty files, a swapped inbox"},
		{name: "tmpfs", run: runTmpfs, root: []string{"nsenter"},
			about: "outbox and spool on a small tmpfs filling and emptying"},
		{name: "sighup", run: runSighup, about: "a SIGHUP storm switching between two models while files flow"},
		{name: "keepalive", run: runKeepalive, about: "200 idle keep-alive HTTP connections while files flow"},
		{name: "flood", run: runFlood,
			about: "200 idle and 40 slowloris HTTP connections: /healthz on a fresh connection within 1 s"},
		{name: "soak", run: runSoak, about: "a steady stream, sampling RSS, descriptors and goroutines"},
		{name: "telemetry", run: runTelemetry, about: "nothing under $HOME or in $TMPDIR, telemetry asked for"},
		{name: "large", run: runLarge,
			about: "a file of 1x1 inputs refused, the largest file allowed, a normal one behind it"},
		{name: "twenty", run: runTwenty, about: "twenty files as large in memory as the limits allow, at once, sampling RSS"},
		{name: "errornames", run: runErrorNames,
			about: "crafted q.json.error.json inputs failing with bad q.json files, two daemons and a kill's leftovers"},
		{name: "outboxput", run: runOutboxPut, about: "a user's file put at outbox/<name> while that name is being answered"},
		{name: "stuckinput", run: runStuckInput, root: []string{"nsenter"},
			about: "a full outbox, the stuck answer's input removed by the admin, then space again"},
		{name: "donegone", run: runDoneGone, about: "done/ moved away while answering, a consumer taking the answers"},
		{name: "rmwork", run: runRmWork,
			about: "rm -rf spool/work and a second daemon of the instance; work/<instance> removed alone"},
		{name: "bindinbox", run: runBindInbox, root: []string{"nsenter", "mount", "umount"},
			about: "a folder of the same filesystem bind-mounted over the inbox, then unmounted"},
		{name: "manynames", run: runManyNames, about: "claims of task.json over many earlier task.N.json in done/"},
		{name: "fleet", run: runFleet, nats: true,
			about: "a gateway and three workers over a 3-server JetStream cluster, 500 tasks, kill -9s (only with -only)"},
		{name: "fleet-key", run: runFleetKey, nats: true,
			about: "a fleet's nkey revoked on every server, then restored: it recovers without a restart (only with -only)"},
		{name: "fleet-hang", run: runFleetHang, nats: true,
			about: "the gateway's nats-server hung with SIGSTOP: the fleet moves within 15 s (only with -only)"},
		{name: "fleet-chmod", run: runFleetChmod, nats: true,
			about: "chmod, touch and hard links in a gateway's work/ while the fleet answers, the gateway restarted " +
				"(only with -only)"},
	}
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

// chosen reports whether the scenario runs: named by -only, or, with no
// -only, any but those that run only when named.
func (s scenario) chosen(only []string) bool {
	if len(only) == 0 {
		return !s.nats
	}
	return slices.Contains(only, s.name)
}

// cannotRun says why the scenario cannot run here ("" when it can).
func (s scenario) cannotRun(o options) string {
	if s.nats && o.natsServer == "" {
		return "no nats-server (-nats-server; ./build.sh fleet-test gives the one ./build.sh deps installs)"
	}
	if s.nats {
		if _, err := os.Stat(o.natsServer); err != nil {
			return fmt.Sprintf("-nats-server: %v", err)
		}
	}
	if s.root == nil {
		return ""
	}
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (it mounts a tmpfs in a mount namespace of its own)")
	}
	for _, tool := range s.root {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, "no "+tool+" (apt-get install util-linux)")
		}
	}
	return strings.Join(why, ", ")
}

// sizes are how much of everything a version does.
type sizes struct {
	kill9Files, kills  int
	multiFiles         int
	empties, manyTests int // hostile: empty files, test inputs in one file
	tmpfsFiles, cycles int
	hups               int
	conns              int
	idleCloses         int // keepalive: connections the daemon must have closed before the end
	keepaliveFiles     int
	slowHolders        int           // flood: slowloris connections beside the idle ones (conns)
	floodFiles         int           // flood: files answered under it
	floodFor           time.Duration // flood: how long the monitor probes, at least
	soakFiles          int
	twentyFiles        int
	largeRows          int   // watch.max_rows of the large scenario (0: the default), which sizes its file
	fleetClean         []int // fleet: the runs with no kills after the first, by their number of workers
	connFiles          int   // fleet-key, fleet-hang: files in each of their three batches
	errorPairs         int   // errornames: crafted q.json.error.json files, each with its bad q.json
	outboxPuts         int   // outboxput: rounds
	// stuckPatience is how long a scenario waits for a recovery that may
	// never come (a finding, not an error); stuckWatch how much longer
	// stuckinput watches for an answer written again (one retry's worth).
	stuckPatience, stuckWatch time.Duration
	doneGoneFiles             int
	doneAway                  time.Duration // donegone: how long done/ stays away once a write is stuck
	rmWorkFiles, bindFiles    int
	earlierNames              int // manynames: earlier task.N.json in done/
	sameNameDrops             int // manynames: task.json dropped
	chmodFiles                int // fleet-chmod: tasks through the gateway
}

func sizesFor(short bool) sizes {
	if short {
		return sizes{kill9Files: 60, kills: 5, multiFiles: 60, empties: 1000, manyTests: 500, tmpfsFiles: 8, cycles: 1,
			hups: 10, conns: 200, idleCloses: 48, keepaliveFiles: 20, slowHolders: 40, floodFiles: 10,
			floodFor: 15 * time.Second, soakFiles: 300, twentyFiles: 12, largeRows: 400, fleetClean: []int{3}, connFiles: 5,
			errorPairs: 40, outboxPuts: 4, stuckPatience: 20 * time.Second, stuckWatch: 11 * time.Second,
			doneGoneFiles: 12, doneAway: 8 * time.Second,
			rmWorkFiles: 12, bindFiles: 12, earlierNames: 20000, sameNameDrops: 5, chmodFiles: 100}
	}
	return sizes{kill9Files: 300, kills: 30, multiFiles: 300, empties: 5000, manyTests: 10000, tmpfsFiles: 30, cycles: 3,
		hups: 50, conns: 200, idleCloses: 200, keepaliveFiles: 100, slowHolders: 40, floodFiles: 100,
		floodFor: time.Minute, soakFiles: 3000, twentyFiles: 20, fleetClean: []int{1, 2, 3}, connFiles: 40,
		errorPairs: 150, outboxPuts: 20, stuckPatience: time.Minute, stuckWatch: 21 * time.Second,
		doneGoneFiles: 60, doneAway: 20 * time.Second,
		rmWorkFiles: 60, bindFiles: 60, earlierNames: 100000, sameNameDrops: 10, chmodFiles: 400}
}

// env is what a scenario runs in: its folder, its randomness, the daemons
// it started (stopped and checked for telemetry when it ends).
type env struct {
	o        options
	size     sizes
	name     string
	dir      string
	home     string // $HOME and $TMPDIR of every daemon it starts
	tmp      string
	rng      *rand.Rand
	tasks    *taskSource
	procs    []*hrmd
	problems []string // found along the way; the scenario goes on
}

// report is a scenario's result: what it did, what the checker found, and
// figures to print after the invariants.
type report struct {
	what  string
	v     verdict
	extra []string
}

func (e *env) problem(format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// result is a scenario's run, ready to print.
type result struct {
	name, skipped string
	rep           report
	err           error
	problems      []string
	health        healthStats
	took          time.Duration
	dir           string
}

func runScenario(o options, root string, tasks *taskSource, sc scenario, seed int64) result {
	r := result{name: sc.name}
	if why := sc.cannotRun(o); why != "" {
		if o.requireRoot {
			r.err = fmt.Errorf("must run here (-require-root, HRMD_REQUIRE_JETSON_TESTS), but: %s", why)
		} else {
			r.skipped = why
		}
		return r
	}
	e := &env{o: o, size: sizesFor(o.short), name: sc.name, dir: filepath.Join(root, sc.name), tasks: tasks,
		rng: rand.New(rand.NewPCG(uint64(seed), 0x70127))}
	e.home, e.tmp = filepath.Join(e.dir, "home"), filepath.Join(e.dir, "tmp")
	for _, d := range []string{e.home, e.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			r.err = err
			return r
		}
	}
	start := time.Now()
	r.rep, r.err = sc.run(e)
	e.stopAll()
	r.took = time.Since(start)
	r.dir = e.dir
	for _, p := range e.procs {
		r.health.add(p.health())
	}
	e.checkTelemetry()
	r.problems = append(e.problems, r.rep.v.problems...)
	if r.health.failures > 0 {
		r.problems = append(r.problems, "/healthz failed: "+r.health.firstFailure)
	}
	if r.passed() && !o.keep {
		os.RemoveAll(e.dir)
	}
	return r
}

func (r result) passed() bool { return r.err == nil && len(r.problems) == 0 }

// line is the scenario's one summary line.
func (r result) line() string {
	head := "torture " + r.name + ": "
	switch {
	case r.skipped != "":
		return head + "SKIPPED: " + r.skipped
	case r.err != nil && r.dir == "":
		return head + "FAILED: " + r.err.Error()
	case r.err != nil:
		return fmt.Sprintf("%sFAILED: %v (%.1f s; folder and logs kept: %s)", head, r.err, r.took.Seconds(), r.dir)
	}
	v := r.rep.v
	parts := []string{r.rep.what, fmt.Sprintf("lost %d, twice %d, overwritten %d", v.lost, v.twice, v.overwritten)}
	if v.stuck > 0 {
		parts = append(parts, fmt.Sprintf("left in the inbox or work/ %d", v.stuck))
	}
	parts = append(append(parts, r.rep.extra...), r.health.String())
	line := fmt.Sprintf("%s%s (%.1f s)", head, strings.Join(parts, ", "), r.took.Seconds())
	if !r.passed() {
		line += fmt.Sprintf(": FAILED, %d problems (below; folder and logs kept: %s)", len(r.problems), r.dir)
	}
	return line
}

// stopAll kills the daemons still running: a scenario that returned early.
func (e *env) stopAll() {
	for _, p := range e.procs {
		p.kill()
	}
}

// checkTelemetry holds every daemon of the scenario to the promise that
// onnxruntime leaves nothing behind: no $HOME/.cache, no mat-debug log.
func (e *env) checkTelemetry() {
	if _, err := os.Lstat(filepath.Join(e.home, ".cache")); err == nil {
		e.problem("$HOME/.cache exists after hrmd ran with HOME=%s: onnxruntime's telemetry store?", e.home)
	}
	if logs, _ := filepath.Glob(filepath.Join(e.tmp, "mat-debug-*.log")); len(logs) > 0 {
		e.problem("onnxruntime's telemetry log is in $TMPDIR: %v", logs)
	}
}
