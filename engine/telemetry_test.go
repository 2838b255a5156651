//go:build cgo

package engine

import (
	"os"
	"slices"
	"testing"

	"go.uber.org/zap"
)

// Open turns onnxruntime's telemetry off in the process's environment before
// it loads the library, whatever the environment said, and warns when that
// overrides a setting that asked for telemetry. (That the library then writes
// and sends nothing is TestNoTelemetry's, in daemon/cmd/hrmd: it needs a
// fresh process, since onnxruntime reads the variable once per process.)
func TestOpenTurnsTelemetryOff(t *testing.T) {
	for _, tt := range []struct {
		name   string
		env    map[string]string
		warned []string // the variables the warning names
	}{
		{"unset", nil, nil},
		{"asked for", map[string]string{telemetryEnv: "0", telemetryEnvNext: "false"}, []string{telemetryEnv, telemetryEnvNext}},
		{"already off", map[string]string{telemetryEnv: "1", telemetryEnvNext: " True"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{telemetryEnv, telemetryEnvNext} {
				// t.Setenv restores the variable afterwards, even one it unsets here.
				t.Setenv(name, "")
				if v, ok := tt.env[name]; ok {
					os.Setenv(name, v)
				} else {
					os.Unsetenv(name)
				}
			}
			_, logs := openRuntime(t, cpuConfig())
			for _, name := range []string{telemetryEnv, telemetryEnvNext} {
				if got := os.Getenv(name); got != "1" {
					t.Errorf("%s=%q after Open, want 1", name, got)
				}
			}
			var warned []string
			for _, l := range logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("telemetry").All() {
				warned = append(warned, l.ContextMap()["variable"].(string))
			}
			if !slices.Equal(warned, tt.warned) {
				t.Errorf("warned about %v, want %v", warned, tt.warned)
			}
		})
	}
}
