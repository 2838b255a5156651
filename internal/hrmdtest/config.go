package hrmdtest

import (
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
)

// Config is hrmd.yaml for a test's daemon of instance with its spool in
// dir: model on the CPU, HTTP on a free port, JSON logs at debug, short
// settle and rescan times.
func Config(dir, instance, model string) config.Config {
	cfg := config.Default()
	l := SpoolIn(dir, instance)
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.Model = l.Inbox, l.Outbox, l.Root, model
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(dir, "trt")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Log = config.Log{Level: "debug", Format: "json"}
	cfg.Watch.Settle, cfg.Watch.Rescan = config.Duration(100*time.Millisecond), config.Duration(time.Second)
	return cfg
}

// WriteConfig writes cfg to path as hrmd.yaml.
func WriteConfig(path string, cfg config.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
