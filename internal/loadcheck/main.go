// Command loadcheck measures what one large task file costs the daemon (issue
// 12): it runs the real `hrmd run` on a temporary spool, drops a large file
// into the inbox and, as soon as the daemon has claimed it, a normal ARC task,
// then reports how long the normal task waited and the daemon's peak memory
// (VmHWM in /proc/<pid>/status). A figure, not a test: it depends on the
// machine and the model.
//
//	go build -o bin/hrmd ./daemon/cmd/hrmd
//	go run ./internal/loadcheck -hrmd bin/hrmd -large largest
//	go run ./internal/loadcheck -hrmd bin/hrmd -large tiny-inputs
//
// -large largest is the largest file the default limits let through: as many
// tasks of watch.max_test_inputs test inputs as watch.max_rows allows, with
// grids as large as watch.max_file_bytes leaves room for. -large tiny-inputs
// is the file of the issue: one task of 1x1 test inputs filling
// watch.max_file_bytes (over 260,000 of them), which the limits refuse.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/puzzles"
)

type options struct {
	hrmd, model, arc, large string
	timeout                 time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.hrmd, "hrmd", "bin/hrmd", "the hrmd binary")
	flag.StringVar(&o.model, "model", "engine/testdata/nova-tiny", "the model bundle")
	flag.StringVar(&o.arc, "arc", "testdata/arc/ARC-AGI-1/training/007bbfb7.json", "the normal task dropped behind the large file")
	flag.StringVar(&o.large, "large", "largest", "largest (the largest file the default limits allow) or tiny-inputs (1x1 test inputs filling max_file_bytes)")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "loadcheck: %v\n", err)
		os.Exit(1)
	}
}

// outcome is an "answered" or "failed" line of the daemon's log.
type outcome struct {
	Msg      string  `json:"msg"`
	Name     string  `json:"name"`
	Code     string  `json:"code"`
	WaitedMS float64 `json:"waited_ms"`
	at       time.Time
}

func run(ctx context.Context, o options, out io.Writer) error {
	large, what, err := largeFile(o.large)
	if err != nil {
		return err
	}
	normal, err := os.ReadFile(o.arc)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "hrmd-loadcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	cmd, outcomes, err := start(ctx, o, root)
	if err != nil {
		return err
	}
	defer cmd.Process.Kill()
	inbox := filepath.Join(root, "inbox")
	fmt.Fprintf(out, "hrmd ready, its peak memory so far %s\n", peak(cmd.Process.Pid))
	fmt.Fprintf(out, "large.json: %s, %d bytes\n", what, len(large))
	dropped := time.Now()
	if err := drop(inbox, "large.json", large); err != nil {
		return err
	}
	// Behind it, once claimed: the daemon is reading it or running it.
	for exists(filepath.Join(inbox, "large.json")) {
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	normalDropped := time.Now()
	if err := drop(inbox, "normal.json", normal); err != nil {
		return err
	}
	fmt.Fprintf(out, "normal.json: %s, dropped %.2f s after large.json\n", filepath.Base(o.arc), normalDropped.Sub(dropped).Seconds())
	seen := map[string]outcome{}
	for len(seen) < 2 {
		select {
		case oc, ok := <-outcomes:
			if !ok {
				return errors.New("hrmd exited early")
			}
			seen[oc.Name] = oc
			since := map[string]time.Time{"large.json": dropped, "normal.json": normalDropped}[oc.Name]
			fmt.Fprintf(out, "%s %s %s after it was dropped (waited_ms %.0f)%s; hrmd peak memory so far %s\n", oc.Name, oc.Msg,
				oc.at.Sub(since).Round(time.Millisecond), oc.WaitedMS, codeOf(oc), peak(cmd.Process.Pid))
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of 2 files done; hrmd peak memory (VmHWM) %s", ctx.Err(), len(seen), peak(cmd.Process.Pid))
		}
	}
	fmt.Fprintf(out, "hrmd peak memory (VmHWM): %s\n", peak(cmd.Process.Pid))
	return cmd.Process.Signal(syscall.SIGTERM)
}

func codeOf(oc outcome) string {
	if oc.Code == "" {
		return ""
	}
	return " with " + oc.Code
}

// start writes the config and starts hrmd, waiting until it is ready; the
// answered and failed lines of its log come on the channel.
func start(ctx context.Context, o options, root string) (*exec.Cmd, <-chan outcome, error) {
	model, err := filepath.Abs(o.model)
	if err != nil {
		return nil, nil, err
	}
	cfg := daemon.DefaultConfig()
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.Model = filepath.Join(root, "inbox"), filepath.Join(root, "outbox"), filepath.Join(root, "spool"), model
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(root, "trt")
	cfg.HTTP.Listen = ""
	cfg.Log.Format = "json"
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	config := filepath.Join(root, "hrmd.yaml")
	if err := os.WriteFile(config, data, 0o644); err != nil {
		return nil, nil, err
	}
	// Not CommandContext: at a timeout the peak is read before hrmd is killed.
	cmd := exec.Command(o.hrmd, "run", "--config", config, "--instance", "loadcheck")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w (go build -o bin/hrmd ./daemon/cmd/hrmd)", o.hrmd, err)
	}
	ready := make(chan struct{})
	outcomes := make(chan outcome, 4)
	go readLog(stderr, ready, outcomes)
	select {
	case <-ready:
		return cmd, outcomes, nil
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, nil, fmt.Errorf("hrmd not ready: %w", ctx.Err())
	}
}

// readLog passes on the daemon's outcome lines, closing ready at its ready line.
func readLog(r io.Reader, ready chan<- struct{}, outcomes chan<- outcome) {
	defer close(outcomes)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var oc outcome
		if json.Unmarshal(sc.Bytes(), &oc) != nil {
			continue
		}
		oc.at = time.Now()
		switch oc.Msg {
		case "ready":
			close(ready)
		case "answered", "failed":
			outcomes <- oc
		}
	}
}

// largeFile is the large file to drop, and what it holds.
func largeFile(kind string) ([]byte, string, error) {
	switch kind {
	case "largest":
		return largest()
	case "tiny-inputs":
		n := (puzzles.DefaultMaxBytes - 20) / len(`{"input":[[1]]},`)
		data := `{"test":[` + strings.Repeat(`{"input":[[1]]},`, n-1) + `{"input":[[1]]}]}`
		return []byte(data), fmt.Sprintf("one task of %d 1x1 test inputs", n), nil
	}
	return nil, "", fmt.Errorf("-large is %q; use largest or tiny-inputs", kind)
}

// largest is a multi-task file at the default limits: watch.max_rows test
// inputs (rounded down to whole tasks of watch.max_test_inputs) of the
// largest square grids that keep it within watch.max_file_bytes.
func largest() ([]byte, string, error) {
	perTask := puzzles.DefaultMaxTestInputs
	tasks := answer.DefaultMaxRows / perTask
	for side := puzzles.MaxSide; side > 0; side-- {
		data := bundle(tasks, perTask, side)
		if len(data) <= puzzles.DefaultMaxBytes {
			return data, fmt.Sprintf("%d tasks of %d test inputs, %dx%d grids: %d rows", tasks, perTask, side, side, tasks*perTask), nil
		}
	}
	return nil, "", errors.New("no grid fits")
}

func bundle(tasks, perTask, side int) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for k := range tasks {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%04d":{"train":[],"test":[`, k)
		for i := range perTask {
			if i > 0 {
				b.WriteByte(',')
			}
			grid := make(puzzles.Grid, side)
			for r := range grid {
				grid[r] = make([]int, side)
				for c := range grid[r] {
					grid[r][c] = (k + i + r*c) % 10
				}
			}
			g, _ := json.Marshal(grid)
			fmt.Fprintf(&b, `{"input":%s}`, g)
		}
		b.WriteString("]}")
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// drop writes a file the way a careful writer does: a hidden name, then a rename.
func drop(inbox, name string, data []byte) error {
	tmp := filepath.Join(inbox, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(inbox, name))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// peak is the process's VmHWM, its largest resident set so far.
func peak(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
