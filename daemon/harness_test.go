package daemon_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/testenv"
)

// hrmdBin is the real hrmd, built once for the tests that run it as a process.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &hrmdBin)) }

// The bundles the tests use, as seen from this folder.
var (
	tinyBundle = filepath.Join("..", "engine", "testdata", "nova-tiny")
	// zeroBundle is nova-tiny with its output forced to colour 0.
	zeroBundle = filepath.Join("..", "engine", "testdata", "nova-zero")
	demoBundle = filepath.Join("..", "engine", "models", "demo")
	// actBundle is the tiny act-v1, with a puzzle table.
	actBundle = filepath.Join("..", "engine", "testdata", "act-v1-tiny")
)

func runHrmd(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, testenv.Command(t, hrmdBin, args...))
}

// spoolUnderTest is a temporary inbox, outbox and spool with a config for a
// real `hrmd run` process.
type spoolUnderTest struct {
	t                                 *testing.T
	dir, config                       string
	inbox, outbox, work, done, failed string
	args                              []string // more flags for hrmd run
}

// newSpool writes a config: the tiny model on CPU, HTTP on a free port, JSON
// logs, short settle and rescan times; edit changes it further.
func newSpool(t *testing.T, edit func(*config.Config)) *spoolUnderTest {
	t.Helper()
	dir := t.TempDir()
	model, err := filepath.Abs(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.Model = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox"), filepath.Join(dir, "spool"), model
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(dir, "trt")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Log = config.Log{Level: "debug", Format: "json"}
	cfg.Watch.Settle, cfg.Watch.Rescan = config.Duration(100*time.Millisecond), config.Duration(time.Second)
	if edit != nil {
		edit(&cfg)
	}
	l := cfg.Layout("test")
	s := &spoolUnderTest{t: t, dir: dir, config: filepath.Join(dir, "hrmd.yaml"),
		inbox: l.Inbox, outbox: l.Outbox, work: l.Work(), done: l.Done(), failed: l.Failed()}
	s.writeConfig(cfg)
	return s
}

func (s *spoolUnderTest) writeConfig(cfg config.Config) {
	s.t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.config, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// drop puts a file into the inbox the way a careful writer does: a hidden
// temporary name, then a rename.
func (s *spoolUnderTest) drop(name string, data []byte) {
	s.t.Helper()
	if err := os.MkdirAll(s.inbox, 0o755); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.inbox, "."+name+".writing")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.inbox, name)); err != nil {
		s.t.Fatal(err)
	}
}

// inputs lists the task files of done/ or failed/: not the error files,
// nor the hidden temporary files of writes in progress.
func inputs(dir string) []string {
	var out []string
	for _, n := range testenv.Names(dir) {
		if !strings.HasSuffix(n, ".error.json") && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

// daemonProcess is a running `hrmd run` with its log lines parsed.
type daemonProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []map[string]any
	raw    []string
	exited chan struct{}
	state  *os.ProcessState
}

func (s *spoolUnderTest) start(env ...string) *daemonProcess {
	s.t.Helper()
	cmd := testenv.Command(s.t, hrmdBin, append([]string{"run", "--config", s.config, "--instance", "test", "--shutdown-timeout", "10s"}, s.args...)...)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	p := &daemonProcess{t: s.t, cmd: cmd, exited: make(chan struct{})}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			p.mu.Lock()
			p.lines, p.raw = append(p.lines, m), append(p.raw, sc.Text())
			p.mu.Unlock()
		}
	}()
	go func() {
		<-scanned
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	s.t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if s.t.Failed() {
			s.t.Logf("hrmd log:\n%s", strings.Join(p.log(), "\n"))
		}
	})
	return p
}

func (p *daemonProcess) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.raw)
}

// find returns the log lines with one of the messages msgs, in order.
func (p *daemonProcess) find(msgs ...string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if msg, _ := l["msg"].(string); slices.Contains(msgs, msg) {
			out = append(out, l)
		}
	}
	return out
}

// logLines are every log line so far, parsed, in order.
func (p *daemonProcess) logLines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// waitLog waits for the n-th log line with message msg and returns it.
func (p *daemonProcess) waitLog(msg string, n int, timeout time.Duration) map[string]any {
	p.t.Helper()
	var found []map[string]any
	deadline := time.After(timeout)
	for {
		if found = p.find(msg); len(found) >= n {
			return found[n-1]
		}
		select {
		case <-p.exited:
			if found = p.find(msg); len(found) >= n {
				return found[n-1]
			}
			p.t.Fatalf("hrmd exited (%v) before logging %q (%d of %d)", p.state, msg, len(found), n)
		case <-deadline:
			p.t.Fatalf("no %q log line (%d of %d) within %s", msg, len(found), n, timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *daemonProcess) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *daemonProcess) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.state.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("hrmd still running %s later", timeout)
	}
	return -1
}

// httpGet fetches a path from the daemon's HTTP endpoint.
func (p *daemonProcess) httpGet(path string) (int, string) {
	p.t.Helper()
	addr := p.waitLog("http listening", 1, 10*time.Second)["addr"].(string)
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric returns the value of one sample line of /metrics ("name{labels}").
func (p *daemonProcess) metric(sample string) string {
	p.t.Helper()
	_, body := p.httpGet("/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// notifySocket listens where the daemon sends its sd_notify messages.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // a short path: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// index returns the position of the first message with prefix, or -1.
func index(msgs []string, prefix string) int {
	return slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) })
}
