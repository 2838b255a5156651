package hrmdtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options are how a daemon is started: `hrmd run [--config Config]
// [--instance Instance] [--shutdown-timeout ShutdownTimeout] Args...`.
type Options struct {
	Bin             string
	Config          string        // "": no --config (hrmd run --home reads none)
	Instance        string        // "": hrmd's default, the host name
	ShutdownTimeout time.Duration // 0: hrmd's default
	Args            []string      // more flags
	Wrap            []string      // a command it runs under (nsenter ...)
	Env             []string      // its environment (nil: this process's)
	// Log is the file its output (stdout and stderr) goes to, kept for a
	// look when something fails.
	Log string
	// Addr is its HTTP address when the caller chose it; "" takes it from
	// the daemon's http_listening event.
	Addr string
}

// Line is one line of the daemon's log.
type Line struct {
	Fields map[string]any // the JSON object; nil for a line that is not one
	Text   string
	Seq    int       // its place in the log: which of two lines came first
	At     time.Time // when the harness read it
}

// Event is the line's event field: the stable name of what happened, which
// tests match instead of the message (docs/service.md lists them).
func (l Line) Event() string {
	e, _ := l.Fields["event"].(string)
	return e
}

// Process is one running `hrmd run`, its log parsed as it comes; or one
// daemon run in the test's own process (Follow), watched the same way. Its
// methods return errors, for drivers (the torture suite, the demo); a test
// uses Daemon, whose waits fail the test.
type Process struct {
	opts   Options
	cmd    *exec.Cmd // nil for a daemon in this process
	client *http.Client

	mu    sync.Mutex
	lines []Line
	addr  string

	exited chan struct{} // closed once the process has ended; then state and end are set
	state  *os.ProcessState
	end    string // how it ended, for a wait it ended
}

// Start starts a daemon; it does not wait for anything (WaitEvent does).
func Start(o Options) (*Process, error) {
	args := append(slices.Clone(o.Wrap), o.Bin, "run")
	if o.Config != "" {
		args = append(args, "--config", o.Config)
	}
	if o.Instance != "" {
		args = append(args, "--instance", o.Instance)
	}
	if o.ShutdownTimeout != 0 {
		args = append(args, "--shutdown-timeout", o.ShutdownTimeout.String())
	}
	cmd := exec.Command(args[0], append(args[1:], o.Args...)...)
	cmd.Env = o.Env
	// Should the driver die, its daemons die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(o.Log)
	if err != nil {
		return nil, fmt.Errorf("the daemon's log: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	p := newProcess(o, cmd)
	go p.read(r, logFile, func() string {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		return p.state.String()
	})
	return p, nil
}

// Follow watches a daemon that runs in this process (a test's, through
// package daemon's Run) as Start's are watched: its log is read from log,
// a copy going to the file logPath, until log ends (the caller closes its
// writing end once the daemon has returned); then ended, which says how the
// daemon ended, is called. It has no pid and takes no signals.
func Follow(log io.ReadCloser, logPath string, ended func() string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("the daemon's log: %w", err)
	}
	p := newProcess(Options{Log: logPath}, nil)
	go p.read(log, logFile, ended)
	return p, nil
}

func newProcess(o Options, cmd *exec.Cmd) *Process {
	return &Process{opts: o, cmd: cmd, addr: o.Addr, exited: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second}}
}

// read parses the log until it ends, copying it to logFile; then wait
// waits for the daemon's end and says what it was.
func (p *Process) read(out io.ReadCloser, logFile *os.File, wait func() string) {
	r := bufio.NewReader(out)
	for {
		raw, err := r.ReadBytes('\n')
		if len(raw) > 0 {
			logFile.Write(raw)
			var fields map[string]any
			_ = json.Unmarshal(raw, &fields)
			p.mu.Lock()
			l := Line{Fields: fields, Text: strings.TrimSuffix(string(raw), "\n"), Seq: len(p.lines), At: time.Now()}
			p.lines = append(p.lines, l)
			if l.Event() == "http_listening" && p.addr == "" {
				p.addr, _ = fields["addr"].(string)
			}
			p.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	out.Close()
	p.end = wait()
	logFile.Close()
	p.client.CloseIdleConnections() // nothing of the harness's outlives the daemon
	close(p.exited)
}

// Pid is the daemon's process id (of the command it runs under, if any); 0
// for a daemon in this process.
func (p *Process) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// LogPath is the file its log goes to.
func (p *Process) LogPath() string { return p.opts.Log }

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not ended yet.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// State is how the process ended (nil while it runs).
func (p *Process) State() *os.ProcessState {
	if p.Running() {
		return nil
	}
	return p.state
}

// Lines are every log line so far, in order.
func (p *Process) Lines() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// Events are the log lines with one of the events, in order.
func (p *Process) Events(events ...string) []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Line
	for _, l := range p.lines {
		if slices.Contains(events, l.Event()) {
			out = append(out, l)
		}
	}
	return out
}

// Count is how many log lines have the event.
func (p *Process) Count(event string) int { return len(p.Events(event)) }

// lastLine is the log's last line, for a wait that failed.
func (p *Process) lastLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return "an empty log"
	}
	return "the log's last line " + p.lines[len(p.lines)-1].Text
}

// WaitEvent waits for the n-th line with the event and returns it.
func (p *Process) WaitEvent(event string, n int, timeout time.Duration) (Line, error) {
	var found []Line
	err := p.Wait(fmt.Sprintf("event=%s (#%d)", event, n), timeout, func() (bool, string) {
		found = p.Events(event)
		return len(found) >= n, fmt.Sprintf("%d of them, %s", len(found), p.lastLine())
	})
	if err != nil {
		return Line{}, err
	}
	return found[n-1], nil
}

// Wait polls cond until it holds, as the package's Wait does; a daemon
// that exits meanwhile ends the wait, naming its log.
func (p *Process) Wait(what string, timeout time.Duration, cond func() (bool, string)) error {
	var ended bool
	err := Wait(what, timeout, func() (bool, string) {
		ended = !p.Running()
		ok, seen := cond()
		return ok || ended, seen
	})
	if err == nil && ended {
		if ok, seen := cond(); !ok {
			return fmt.Errorf("hrmd exited (%s) while waiting for %s (last seen: %s); its log: %s",
				p.end, what, seen, p.opts.Log)
		}
	}
	if err != nil {
		return fmt.Errorf("%w; hrmd's log: %s", err, p.opts.Log)
	}
	return nil
}

// WaitFor is Wait for a condition with nothing to say of what it saw.
func (p *Process) WaitFor(what string, timeout time.Duration, cond func() bool) error {
	return p.Wait(what, timeout, func() (bool, string) { return cond(), "" })
}

// Signal sends sig to the daemon.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.cmd == nil {
		return fmt.Errorf("%s to hrmd: it runs in this process, which takes no signal for it", sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s to hrmd (pid %d): %w", sig, p.Pid(), err)
	}
	return nil
}

// WaitExit waits for the process to end and returns its exit code (-1
// for a daemon in this process, which has none).
func (p *Process) WaitExit(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
		return p.state.ExitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("hrmd (pid %d) still running %s later; its log: %s", p.Pid(), timeout, p.opts.Log)
	}
}

// Kill9 kills the daemon with SIGKILL and waits for it to be gone.
func (p *Process) Kill9() error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_, err := p.WaitExit(60 * time.Second)
	return err
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	code, err := p.WaitExit(timeout)
	if err == nil && code != 0 {
		err = fmt.Errorf("hrmd exited %d after SIGTERM, want 0 (its log: %s)", code, p.opts.Log)
	}
	return err
}

// Addr is where the daemon's HTTP endpoint listens ("" before it does).
func (p *Process) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Get fetches a path from the daemon's HTTP endpoint.
func (p *Process) Get(path string) (int, string, error) {
	addr := p.Addr()
	if addr == "" {
		return 0, "", errors.New("hrmd does not listen yet (no http_listening event)")
	}
	resp, err := p.client.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// Sample is the value of one sample of /metrics ("name{labels}") as
// written, "" when there is none.
func (p *Process) Sample(sample string) (string, error) {
	code, body, err := p.Get("/metrics")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("/metrics answered %d", code)
	}
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v, nil
		}
	}
	return "", nil
}

// Metric is a sample's value; absent reads as 0.
func (p *Process) Metric(sample string) (float64, error) {
	v, err := p.Sample(sample)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseFloat(v, 64)
}

// WaitMetric waits until a sample satisfies ok, and returns it.
func (p *Process) WaitMetric(sample string, timeout time.Duration, ok func(float64) bool) (float64, error) {
	var v float64
	err := p.Wait("metric "+sample, timeout, func() (bool, string) {
		var err error
		if v, err = p.Metric(sample); err != nil {
			return false, err.Error()
		}
		return ok(v), strconv.FormatFloat(v, 'g', -1, 64)
	})
	return v, err
}

// WaitReadyz waits until /readyz answers code with a body that holds text.
func (p *Process) WaitReadyz(code int, text string, timeout time.Duration) error {
	return p.Wait(fmt.Sprintf("/readyz %d %q", code, text), timeout, func() (bool, string) {
		got, body, err := p.Get("/readyz")
		if err != nil {
			return false, err.Error()
		}
		return got == code && strings.Contains(body, text), fmt.Sprintf("%d %q", got, body)
	})
}
