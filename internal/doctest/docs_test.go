package doctest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// cloneHome is where the samples show the clone: its path in what a command
// prints reads as this.
const cloneHome = "~/hrmd"

// hrmdBin is the real hrmd the docs' commands run as bin/hrmd.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

// pages is every Markdown page a user reads: README.md and docs/.
func pages(t *testing.T) []string {
	root := testenv.RepoRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md under %s: %v", root, err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// TestDocs runs every page's run blocks and the commands of its output
// blocks in order, as a user reading it would, and holds each sample to what
// was printed. A page's blocks run one after another (a later command may use
// what an earlier one wrote); pages run side by side, each in its own copy of
// the clone, as ~/hrmd of a home of its own.
func TestDocs(t *testing.T) {
	root := testenv.RepoRoot(t)
	goEnv := goEnvironment(t)
	for _, page := range pages(t) {
		rel, _ := filepath.Rel(root, page)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			p, err := ReadPage(page)
			if err != nil {
				t.Fatal(err)
			}
			home := t.TempDir()
			r := reader{t: t, root: root, home: home, clone: cloneView(t, root, home), goEnv: goEnv}
			for _, b := range p.Blocks {
				b.File = rel
				r.read(b)
			}
		})
	}
}

// reader goes through one page's blocks.
type reader struct {
	t     *testing.T
	root  string   // the clone itself
	home  string   // $HOME of the page's commands, fresh
	clone string   // the page's copy of the clone: ~/hrmd
	goEnv []string // where Go keeps its caches, kept when $HOME moves
	last  *ran     // what the last command run printed
}

// ran is how a command ended and what it printed.
type ran struct {
	code           int
	stdout, stderr string
}

func (r *reader) read(b Block) {
	t, m := r.t, b.Marker
	switch {
	case m.Kind == None:
		if b.NeedsMarker() {
			t.Errorf("%s: a command block without a doctest marker: say run, output or skip: WHY (internal/doctest)",
				b.Where())
		}
	case m.Kind == Skip || m.CheckedBy != "":
	case m.Kind == Run:
		r.last = r.run(b, b.Text, m.Exit)
	case m.Kind == Output:
		sample, got := b.Text, r.last
		if cmd, rest, ok := prompt(b.Text); ok && m.Command == "" {
			sample, got = rest, r.run(b, cmd, m.Exit)
		} else if m.Command != "" {
			got = r.run(b, m.Command, m.Exit)
			r.last = got // a sample of its other stream may follow
		}
		if got == nil {
			t.Errorf("%s: an output block with no command: name it (output of `COMMAND`) or put a run block before it",
				b.Where())
			return
		}
		printed := got.stdout
		if m.Stderr {
			printed = got.stderr
		}
		if err := Match(sample, printed, m.Vary, m.Part); err != nil {
			t.Errorf("%s: the sample is not what the command prints: %v", b.Where(), err)
		}
	}
}

// prompt splits a block that opens with `$ COMMAND` into the command and the
// sample after it.
func prompt(text string) (cmd, rest string, ok bool) {
	first, rest, _ := strings.Cut(text, "\n")
	cmd, ok = strings.CutPrefix(first, "$ ")
	return cmd, rest, ok
}

// run runs script with bash in the page's copy of the clone; it must end with
// the exit status wanted.
func (r *reader) run(b Block, script string, want int) *ran {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = r.clone
	// As a user's shell in a home of its own: no $HRMD_ORT_LIB, so hrmd finds
	// the clone's own onnxruntime, which ./build.sh fetched into .cache.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HRMD_ORT_LIB=") || strings.HasPrefix(kv, "HOME=")
	})
	cmd.Env = append(append(cmd.Env, "NO_COLOR=1", "HOME="+r.home), r.goEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	// The samples show the clone at ~/hrmd and the home as ~, wherever they are.
	home := strings.NewReplacer(r.clone, cloneHome, r.root, cloneHome, r.home, "~")
	got := &ran{stdout: home.Replace(stdout.String()), stderr: home.Replace(stderr.String())}
	switch {
	case errors.As(err, &exit):
		got.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", b.Where(), err)
	}
	if got.code != want {
		t.Errorf("%s: exit %d, want %d:\n%s\nstdout:\n%s\nstderr:\n%s", b.Where(), got.code, want, script,
			got.stdout, got.stderr)
	}
	return got
}

// goEnvironment is where Go keeps its build cache and modules, which a
// command that builds (./build.sh build) uses as the developer's shell would
// though $HOME is elsewhere.
func goEnvironment(t *testing.T) []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 3 {
		t.Fatalf("go env printed %q", out)
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2]}
}

// cloneView is home/hrmd, a folder that reads as the clone at root, each top-level entry
// a link to the real one, except bin/hrmd: the hrmd under test. What a command
// writes beside them stays in the folder, which the test removes.
func cloneView(t *testing.T, root, home string) string {
	dir := filepath.Join(home, "hrmd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "bin" || e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link, not a symlink: hrmd looks for onnxruntime beside the path it was
	// started by, as in a clone (../.cache/onnxruntime).
	if err := os.Link(hrmdBin, filepath.Join(dir, "bin", "hrmd")); err != nil {
		t.Fatal(err)
	}
	return dir
}
