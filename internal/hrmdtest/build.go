package hrmdtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

// Main builds the real hrmd once for a package's tests (with -race when they
// run with it, so the daemon's own goroutines are checked too), sets *bin to
// it, runs the tests and removes it: call it from TestMain. It is the one
// place tests get an hrmd from.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "hrmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Tests run it as an unprivileged user too (doctor).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*bin = filepath.Join(dir, "hrmd")
	args := []string{"build", "-o", *bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/hrmd/hrmd/daemon/cmd/hrmd")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hrmd:", err)
		return 1
	}
	return m.Run()
}

// Command is bin run with args on the tests' onnxruntime.
func Command(t testing.TB, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = TestEnv(t)
	return cmd
}

// TestEnv is this process's environment with the tests' onnxruntime, and
// more: what a command or daemon under test runs with.
func TestEnv(t testing.TB, more ...string) []string {
	t.Helper()
	return append(append(os.Environ(), "HRMD_ORT_LIB="+testenv.ORTLibrary(t)), more...)
}

// Result is how a command ended and what it printed.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs cmd to its end.
func Run(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{code, stdout.String(), stderr.String()}
}
