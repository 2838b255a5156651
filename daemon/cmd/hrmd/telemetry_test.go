package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// Every command that loads onnxruntime leaves no trace of its telemetry: no
// device id or event store under $HOME/.cache/Microsoft (the bundled 1.30.0
// writes one there, and would upload it, unless ORT_DISABLE_TELEMETRY=1) and
// no mat-debug-<pid>.log in $TMPDIR, even when the caller asked for
// telemetry with ORT_DISABLE_TELEMETRY=0.
func TestNoTelemetry(t *testing.T) {
	// Each variable onnxruntime 1.30.0 takes as "do not collect" is removed,
	// so that the library sees what a user's shell gives it, not what a CI
	// runner's does: under any of these it keeps quiet by itself, and the test
	// would pass without hrmd's doing. Where it would write goes too: HOME and
	// TMPDIR are the test's own folders, and XDG_CACHE_HOME, which it prefers
	// to $HOME/.cache, is unset.
	removed := []string{
		"ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED", "ORT_RUNNING_UNIT_TESTS",
		"CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
		"BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
		"HOME", "TMPDIR", "XDG_CACHE_HOME",
	}
	task := filepath.Join(arcDir, "training", "007bbfb7.json")
	for _, tt := range []struct {
		name string
		args []string
		env  []string
	}{
		{"solve", []string{"solve", task, "--model", tinyBundle}, nil},
		{"version", []string{"version"}, nil},
		{"solve with telemetry asked " +
			"for", []string{"solve", task, "--model", tinyBundle}, []string{"ORT_DISABLE_TELEMETRY=0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home, tmp := t.TempDir(), t.TempDir()
			cmd := hrmdtest.Command(t, hrmdBin, tt.args...)
			cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
				name, _, _ := strings.Cut(kv, "=")
				return slices.Contains(removed, name)
			})
			cmd.Env = append(cmd.Env, append(tt.env, "HOME="+home, "TMPDIR="+tmp)...)
			if r := hrmdtest.Run(t, cmd); r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			var written []string
			filepath.WalkDir(home, func(path string, _ os.DirEntry, err error) error {
				if path != home {
					written = append(written, path)
				}
				return err
			})
			if len(written) > 0 {
				t.Errorf("hrmd wrote under $HOME: %v", written)
			}
			if logs, _ := filepath.Glob(filepath.Join(tmp, "mat-debug-*.log")); len(logs) > 0 {
				t.Errorf("onnxruntime's telemetry log is in $TMPDIR: %v", logs)
			}
		})
	}
}
