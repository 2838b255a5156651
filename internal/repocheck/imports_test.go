package repocheck

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// serviceModules are what only the service needs: the queue client, the
// inbox watcher and the metrics. Reading hrmd.yaml must not pull them in.
var serviceModules = []string{"github.com/nats-io/", "github.com/fsnotify/", "github.com/prometheus/"}

// Package config is read by the one-shot commands too; what it depends on
// they carry.
func TestConfigPullsInNoServiceModule(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./daemon/config")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./daemon/config: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "gopkg.in/yaml.v3") {
		t.Fatalf("go list -deps ./daemon/config lists no gopkg.in/yaml.v3: not the config package's dependencies?\n%s", out)
	}
	for _, dep := range deps {
		inModule := func(m string) bool { return strings.HasPrefix(dep, m) }
		if dep == "github.com/hrmd/hrmd/daemon" || slices.ContainsFunc(serviceModules, inModule) {
			t.Errorf("daemon/config depends on %s (go list -deps ./daemon/config); keep the service's packages out of it", dep)
		}
	}
}

// Package daemon runs alone; a fleet's part is package daemon/fleet, which
// imports daemon and is handed in by the command, never the reverse.
func TestDaemonPullsInNoFleet(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./daemon")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./daemon: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/hrmd/hrmd/daemon/spool") {
		t.Fatalf("go list -deps ./daemon lists no daemon/spool: not the service's dependencies?\n%s", out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/hrmd/hrmd/daemon/fleet") || strings.HasPrefix(dep, "github.com/nats-io/") {
			t.Errorf("daemon depends on %s (go list -deps ./daemon); the fleet's code belongs in daemon/fleet", dep)
		}
	}
}

// Of the command line, only `hrmd run` starts the service; solve, eval,
// bench, verify and doctor read hrmd.yaml through package config.
func TestOnlyRunImportsTheService(t *testing.T) {
	const service = "github.com/hrmd/hrmd/daemon"
	dir := filepath.Join(repoRoot(t), "daemon", "cmd", "hrmd")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	importers := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == service || p == service+"/config" {
				importers[filepath.Base(path)+" "+p] = true
			}
		}
	}
	if !importers["run.go "+service] {
		t.Errorf("run.go does not import %s: is this still the command line?", service)
	}
	for _, cmd := range []string{"solve.go", "eval.go", "bench.go", "doctor.go"} {
		if !importers[cmd+" "+service+"/config"] {
			t.Errorf("%s does not import %s/config: where does it read hrmd.yaml?", cmd, service)
		}
	}
	for imp := range importers {
		if file, p, _ := strings.Cut(imp, " "); p == service && file != "run.go" {
			t.Errorf("%s imports %s; only run.go starts the service: read hrmd.yaml with package config", file, service)
		}
	}
}
