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
		{"asked for", map[string]string{telemetryEnv: "0", telemetryEnvNext: "false"},
			[]string{telemetryEnv, telemetryEnvNext}},
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

// Open sets NVIDIA_TF32_OVERRIDE=0 before any NVIDIA library loads (TensorRT
// and cuBLAS read it), and warns when the environment asked for TF32.
func TestOpenTurnsTF32Off(t *testing.T) {
	for _, tt := range []struct {
		name   string
		value  *string
		warned bool
	}{
		{"unset", nil, false},
		{"asked for", ptr("1"), true},
		{"already off", ptr("0"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tf32Env, "")
			if tt.value != nil {
				os.Setenv(tf32Env, *tt.value)
			} else {
				os.Unsetenv(tf32Env)
			}
			_, logs := openRuntime(t, cpuConfig())
			if got := os.Getenv(tf32Env); got != "0" {
				t.Errorf("%s=%q after Open, want 0", tf32Env, got)
			}
			warnings := logs.FilterLevelExact(zap.WarnLevel).FilterField(zap.String("variable", tf32Env))
			if warned := warnings.Len() > 0; warned != tt.warned {
				t.Errorf("warned %v, want %v", warned, tt.warned)
			}
		})
	}
}

func ptr(s string) *string { return &s }
