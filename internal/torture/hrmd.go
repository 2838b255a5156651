package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
)

// hrmd is one running `hrmd run`, its JSON log parsed as it comes.
type hrmd struct {
	instance string
	cmd      *exec.Cmd
	pid      int
	logPath  string
	client   *http.Client

	mu    sync.Mutex
	lines []logLine
	addr  string // from the "http listening" line

	exited   chan struct{} // closed once the process has ended; then state is set
	state    *os.ProcessState
	stopping atomic.Bool // asked to stop or killed: /healthz may fail from now on
	sampler  *sampler
}

type logLine struct {
	msg    string
	seq    int       // its place in the log: which of two lines came first
	at     time.Time // when the driver read it
	fields map[string]any
}

// startOpts are how a daemon is started.
type startOpts struct {
	instance      string
	wrap          []string // a command it runs under (nsenter ...)
	env           []string // more environment
	healthTimeout time.Duration
}

// ciVariables are what onnxruntime (or the libraries under it) take as
// "running in CI, stay quiet": removed from every daemon's environment, so
// that hrmd's own ORT_DISABLE_TELEMETRY is what the telemetry checks test.
func ciVariables() []string {
	return []string{"ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED", "ORT_RUNNING_UNIT_TESTS",
		"CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
		"BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
		"HOME", "TMPDIR", "XDG_CACHE_HOME"}
}

// daemonEnv is the driver's environment without the CI variables, with
// the scenario's own $HOME and $TMPDIR.
func (e *env) daemonEnv(more []string) []string {
	removed := ciVariables()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(removed, name)
	})
	return append(append(env, "HOME="+e.home, "TMPDIR="+e.tmp), more...)
}

// start starts hrmd run on s and waits for its HTTP address; it does not
// wait for the model (waitReady does).
func (e *env) start(s *spool, o startOpts) (*hrmd, error) {
	if o.instance == "" {
		o.instance = "torture"
	}
	if o.healthTimeout == 0 {
		o.healthTimeout = 30 * time.Second
	}
	args := append(slices.Clone(o.wrap), e.o.hrmd, "run", "--config", s.config, "--instance", o.instance, "--shutdown-timeout", "20s")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = e.daemonEnv(o.env)
	// Should the driver die, its daemons die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &hrmd{instance: o.instance, cmd: cmd, exited: make(chan struct{}),
		logPath: filepath.Join(e.dir, fmt.Sprintf("hrmd-%s-%d.log", o.instance, len(e.procs)+1)),
		client:  &http.Client{Timeout: 30 * time.Second}}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", e.o.hrmd, err)
	}
	p.pid = cmd.Process.Pid
	e.procs = append(e.procs, p)
	go p.read(stderr, logFile)
	if _, err := p.waitLog("http listening", 1, 120*time.Second); err != nil {
		return p, err
	}
	p.sampler = newSampler(p, o.healthTimeout)
	go p.sampler.run()
	return p, nil
}

// ready is a new spool (newSpool's, changed by edit) with a daemon
// started on it and ready.
func (e *env) ready(edit func(*config.Config), o startOpts) (*spool, *hrmd, error) {
	s, err := e.newSpool(edit)
	if err != nil {
		return nil, nil, err
	}
	p, err := e.startReady(s, o)
	return s, p, err
}

// startReady starts a daemon on s and waits until it is ready.
func (e *env) startReady(s *spool, o startOpts) (*hrmd, error) {
	p, err := e.start(s, o)
	if err == nil {
		err = p.waitReady()
	}
	return p, err
}

// read parses the log until the process ends, copying it to logFile.
func (p *hrmd) read(stderr io.Reader, logFile *os.File) {
	r := bufio.NewReader(stderr)
	for {
		raw, err := r.ReadBytes('\n')
		if len(raw) > 0 {
			logFile.Write(raw)
			var fields map[string]any
			_ = json.Unmarshal(raw, &fields)
			msg, _ := fields["msg"].(string)
			p.mu.Lock()
			p.lines = append(p.lines, logLine{msg: msg, seq: len(p.lines), at: time.Now(), fields: fields})
			if msg == "http listening" {
				p.addr, _ = fields["addr"].(string)
			}
			p.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	p.cmd.Wait()
	logFile.Close()
	p.state = p.cmd.ProcessState
	close(p.exited)
}

// find returns the log lines with message msg, in order.
func (p *hrmd) find(msg string) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, l := range p.lines {
		if l.msg == msg {
			out = append(out, l)
		}
	}
	return out
}

func (p *hrmd) count(msg string) int { return len(p.find(msg)) }

// waitLog waits for the n-th line with message msg.
func (p *hrmd) waitLog(msg string, n int, timeout time.Duration) (logLine, error) {
	var found []logLine
	err := p.waitFor(fmt.Sprintf("log line %q (#%d)", msg, n), timeout, func() bool {
		found = p.find(msg)
		return len(found) >= n
	})
	if err != nil {
		return logLine{}, err
	}
	return found[n-1], nil
}

// waitFor polls cond until it holds. The deadline is generous: it bounds a
// hung run, it does not time the daemon. A daemon that exits meanwhile
// ends the wait with its last log lines.
func (p *hrmd) waitFor(what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-p.exited:
			if cond() {
				return nil
			}
			return fmt.Errorf("hrmd (%s) exited (%v) while waiting for %s; its log: %s", p.instance, p.state, what, p.logPath)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, still waiting for %s (hrmd's log: %s)", timeout, what, p.logPath)
		}
	}
	return nil
}

func (p *hrmd) waitReady() error {
	_, err := p.waitLog("ready", 1, 180*time.Second)
	return err
}

func (p *hrmd) running() bool { return !closed(p.exited) }

// kill9 kills the daemon with SIGKILL and waits for it to be gone.
func (p *hrmd) kill9() error {
	p.stopping.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("hrmd (%s, pid %d) still there 60 s after SIGKILL", p.instance, p.pid)
	}
}

// kill is kill9 for clean-up: errors do not matter any more.
func (p *hrmd) kill() {
	if p.running() {
		_ = p.kill9()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *hrmd) stop() error {
	p.stopping.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM to hrmd (%s): %w", p.instance, err)
	}
	select {
	case <-p.exited:
	case <-time.After(90 * time.Second):
		return fmt.Errorf("hrmd (%s) still running 90 s after SIGTERM (its log: %s)", p.instance, p.logPath)
	}
	if code := p.state.ExitCode(); code != 0 {
		return fmt.Errorf("hrmd (%s) exited %d after SIGTERM, want 0 (its log: %s)", p.instance, code, p.logPath)
	}
	return nil
}

func (p *hrmd) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// address is where the daemon's HTTP endpoint listens.
func (p *hrmd) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// get fetches a path from the daemon's HTTP endpoint.
func (p *hrmd) get(path string) (int, string, error) {
	resp, err := p.client.Get("http://" + p.address() + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric reads one sample of /metrics ("name{labels}"); absent reads as 0.
func (p *hrmd) metric(sample string) (float64, error) {
	code, body, err := p.get("/metrics")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("/metrics answered %d", code)
	}
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, nil
}

// waitMetric waits until a sample satisfies ok.
func (p *hrmd) waitMetric(sample string, timeout time.Duration, ok func(float64) bool) (float64, error) {
	var v float64
	err := p.waitFor("metric "+sample, timeout, func() bool {
		var err error
		v, err = p.metric(sample)
		return err == nil && ok(v)
	})
	return v, err
}

// waitReadyz waits until /readyz answers code with a body that holds text.
func (p *hrmd) waitReadyz(code int, text string) error {
	return p.waitFor(fmt.Sprintf("/readyz %d %q", code, text), time.Minute, func() bool {
		got, body, err := p.get("/readyz")
		return err == nil && got == code && strings.Contains(body, text)
	})
}

// procStatus is a "kB" field of /proc/<pid>/status (VmRSS, VmHWM), in bytes.
func (p *hrmd) procStatus(field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.pid)
}

// fds counts the daemon's open file descriptors.
func (p *hrmd) fds() (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	return len(entries), err
}

func (p *hrmd) health() healthStats {
	if p.sampler == nil {
		return healthStats{}
	}
	return p.sampler.stats()
}
