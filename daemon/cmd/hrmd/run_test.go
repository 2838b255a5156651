package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// TestRunHome runs the daemon as docs/service.md's "Try it from a clone"
// does: --home in a folder of the user's, --model a bundle of the clone, as
// a user without root's rights (nobody, where the test has root). A task
// dropped into the home's inbox is answered into its outbox; a SIGHUP
// keeps --model over a config that names no model.
func TestRunHome(t *testing.T) {
	dir, err := os.MkdirTemp("", "hrmd-home")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // for nobody
		t.Fatal(err)
	}
	// The config only moves HTTP off hrmd's port, which another daemon on
	// this machine may hold; every folder comes from --home.
	configPath := filepath.Join(dir, "hrmd.yaml")
	if err := os.WriteFile(configPath, []byte("http:\n  listen: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	d := hrmdtest.StartDaemon(t, hrmdtest.Options{Bin: hrmdBin, Config: configPath, Instance: "test",
		Args: []string{"--home", home, "--model", demoBundle}, Wrap: unprivileged(t)})
	if inbox := d.WaitEvent("starting", 1, time.Minute).Fields["inbox"]; inbox != filepath.Join(home, "inbox") {
		t.Errorf("started with the inbox %v, not in --home %s", inbox, home)
	}
	d.WaitEvent("ready", 1, time.Minute)
	task, err := os.ReadFile(filepath.Join(examplesDir, "halo-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hrmdtest.Drop(filepath.Join(home, "inbox"), "halo-1.json", task); err != nil {
		t.Fatal(err)
	}
	d.WaitEvent("answered", 1, time.Minute)
	data, err := os.ReadFile(filepath.Join(home, "outbox", "halo-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal(data, &a); err != nil || a.Model.Name != "halo-demo" {
		t.Errorf("outbox/halo-1.json: model %q, %v:\n%s", a.Model.Name, err, data)
	}
	for _, sub := range []string{"done", "work", "trt"} {
		if _, err := os.Stat(filepath.Join(home, sub)); err != nil {
			t.Errorf("--home holds no %s/: %v", sub, err)
		}
	}
	d.Signal(syscall.SIGHUP)
	reloaded := d.WaitEvent("reloaded", 1, time.Minute)
	if reloaded.Fields["model"] != "halo-demo" || reloaded.Fields["model_reloaded"] != false {
		t.Errorf("after SIGHUP: %s; want --model's halo-demo kept", reloaded.Text)
	}
	d.Signal(syscall.SIGTERM)
	if code := d.WaitExit(time.Minute); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// unprivileged is the command that runs the daemon as nobody where the test
// runs as root, so that nothing it does needs root's rights; nothing where
// it runs as a user already.
func unprivileged(t *testing.T) []string {
	if os.Geteuid() != 0 {
		return nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("running the daemon as nobody needs setpriv (util-linux): %v", err)
	}
	return []string{setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"}
}

// TestRunPlace is which config run reads and where its folders go, for
// --config, --home and --model.
func TestRunPlace(t *testing.T) {
	tests := []struct {
		args         []string
		config       string
		inbox, model string
	}{
		{nil, defaultConfig, "", ""},
		{[]string{"--config", "my.yaml"}, "my.yaml", "", ""},
		{[]string{"--home", "/tmp/h", "--model", "m"}, "", "/tmp/h/inbox", "m"},
		{[]string{"--home", "/tmp/h", "--config", "my.yaml"}, "my.yaml", "/tmp/h/inbox", ""},
	}
	for _, tt := range tests {
		fl, f := newRunFlags()
		if err := fl.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		over, err := f.place.over()
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		over.Apply(&cfg)
		wantInbox, wantModel := tt.inbox, tt.model
		if wantInbox == "" {
			wantInbox = config.Default().Inbox
		}
		if wantModel == "" {
			wantModel = config.Default().Model
		}
		if got := f.place.configPath(); got != tt.config || cfg.Inbox != wantInbox || cfg.Model != wantModel {
			t.Errorf("run %v: config %q, inbox %s, model %s; want %q, %s, %s", tt.args, got, cfg.Inbox, cfg.Model,
				tt.config, wantInbox, wantModel)
		}
	}
}
