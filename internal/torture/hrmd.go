package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// hrmd is one running `hrmd run` (the harness's process), with what the
// torture suite keeps of it: its instance, whether the driver stopped it,
// and the /healthz sampler.
type hrmd struct {
	*hrmdtest.Process
	instance string
	stopping atomic.Bool // asked to stop or killed: /healthz may fail from now on
	sampler  *sampler
}

// startOpts are how a daemon is started.
type startOpts struct {
	instance      string
	wrap          []string // a command it runs under (nsenter ...)
	env           []string // more environment
	healthTimeout time.Duration
}

// ciVariables are what onnxruntime (or the libraries under it) take as
// "running in CI, stay quiet": removed from every daemon's environment, so
// that hrmd's own ORT_DISABLE_TELEMETRY is what the telemetry checks test.
func ciVariables() []string {
	return []string{"ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED", "ORT_RUNNING_UNIT_TESTS",
		"CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
		"BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
		"HOME", "TMPDIR", "XDG_CACHE_HOME"}
}

// daemonEnv is the driver's environment without the CI variables, with
// the scenario's own $HOME and $TMPDIR.
func (e *env) daemonEnv(more []string) []string {
	removed := ciVariables()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(removed, name)
	})
	return append(append(env, "HOME="+e.home, "TMPDIR="+e.tmp), more...)
}

// start starts hrmd run on s and waits for its HTTP address; it does not
// wait for the model (waitReady does).
func (e *env) start(s *spool, o startOpts) (*hrmd, error) {
	if o.instance == "" {
		o.instance = "torture"
	}
	if o.healthTimeout == 0 {
		o.healthTimeout = 30 * time.Second
	}
	proc, err := hrmdtest.Start(hrmdtest.Options{Bin: e.o.hrmd, Config: s.config, Instance: o.instance,
		ShutdownTimeout: 20 * time.Second, Wrap: o.wrap, Env: e.daemonEnv(o.env),
		Log: filepath.Join(e.dir, fmt.Sprintf("hrmd-%s-%d.log", o.instance, len(e.procs)+1))})
	if err != nil {
		return nil, err
	}
	p := &hrmd{Process: proc, instance: o.instance}
	e.procs = append(e.procs, p)
	if _, err := p.WaitEvent("http_listening", 1, 120*time.Second); err != nil {
		return p, err
	}
	p.sampler = newSampler(p, o.healthTimeout)
	go p.sampler.run()
	return p, nil
}

// ready is a new spool (newSpool's, changed by edit) with a daemon
// started on it and ready.
func (e *env) ready(edit func(*config.Config), o startOpts) (*spool, *hrmd, error) {
	s, err := e.newSpool(edit)
	if err != nil {
		return nil, nil, err
	}
	p, err := e.startReady(s, o)
	return s, p, err
}

// startReady starts a daemon on s and waits until it is ready.
func (e *env) startReady(s *spool, o startOpts) (*hrmd, error) {
	p, err := e.start(s, o)
	if err == nil {
		err = p.waitReady()
	}
	return p, err
}

func (p *hrmd) waitReady() error {
	_, err := p.WaitEvent("ready", 1, 180*time.Second)
	return err
}

// kill9 kills the daemon with SIGKILL and waits for it to be gone.
func (p *hrmd) kill9() error {
	p.stopping.Store(true)
	if err := p.Kill9(); err != nil {
		return fmt.Errorf("hrmd (%s): %w", p.instance, err)
	}
	return nil
}

// kill is kill9 for clean-up: errors do not matter any more.
func (p *hrmd) kill() {
	if p.Running() {
		_ = p.kill9()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *hrmd) stop() error {
	p.stopping.Store(true)
	if err := p.Stop(90 * time.Second); err != nil {
		return fmt.Errorf("hrmd (%s): %w", p.instance, err)
	}
	return nil
}

// procStatus is a "kB" field of /proc/<pid>/status (VmRSS, VmHWM), in bytes.
func (p *hrmd) procStatus(field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.Pid())
}

// fds counts the daemon's open file descriptors.
func (p *hrmd) fds() (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
	return len(entries), err
}

func (p *hrmd) health() healthStats {
	if p.sampler == nil {
		return healthStats{}
	}
	return p.sampler.stats()
}
