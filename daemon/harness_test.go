package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
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

	"github.com/hrmd/hrmd/internal/testenv"
)

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
func newSpool(t *testing.T, edit func(*Config)) *spoolUnderTest {
	t.Helper()
	dir := t.TempDir()
	model, err := filepath.Abs(fixtureBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.Model = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox"), filepath.Join(dir, "spool"), model
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(dir, "trt")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Log = Log{Level: "debug", Format: "json"}
	cfg.Watch.SettleMS, cfg.Watch.RescanS = 100, 1
	if edit != nil {
		edit(&cfg)
	}
	s := &spoolUnderTest{t: t, dir: dir, config: filepath.Join(dir, "hrmd.yaml"),
		inbox: cfg.Inbox, outbox: cfg.Outbox, work: filepath.Join(cfg.Spool, "work", "test"),
		done: filepath.Join(cfg.Spool, "done"), failed: filepath.Join(cfg.Spool, "failed")}
	s.writeConfig(cfg)
	return s
}

func (s *spoolUnderTest) writeConfig(cfg Config) {
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

// names lists a folder's files (nil when it does not exist).
func names(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// inputs lists the task files of done/ or failed/ (not the error files).
func inputs(dir string) []string {
	var out []string
	for _, n := range names(dir) {
		if !strings.HasSuffix(n, ".error.json") {
			out = append(out, n)
		}
	}
	return out
}

// arcTasks is n task files named <id>.json, then <id>-2.json, ...: the
// committed ARC tasks, taken round as often as n needs.
func arcTasks(t *testing.T, n int) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(arcDir, "training", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ARC tasks in %s (%v)", arcDir, err)
	}
	slices.Sort(paths)
	out := map[string][]byte{}
	for i := range n {
		p := paths[i%len(paths)]
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if round := i / len(paths); round > 0 {
			name = fmt.Sprintf("%s-%d.json", strings.TrimSuffix(name, ".json"), round+1)
		}
		out[name] = data
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	cmd := exec.Command(hrmdBin, append([]string{"run", "--config", s.config, "--instance", "test", "--shutdown-timeout", "10s"}, s.args...)...)
	cmd.Env = append(os.Environ(), append([]string{"HRMD_ORT_LIB=" + testenv.ORTLibrary(s.t)}, env...)...)
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

// find returns the log lines with message msg.
func (p *daemonProcess) find(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l != nil && l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
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

func mustJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
