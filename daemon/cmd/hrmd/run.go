package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet"
	"github.com/hrmd/hrmd/daemon/spool"
)

// defaultConfig is the config run and doctor read when no --config is given.
const defaultConfig = "/etc/hrmd/hrmd.yaml"

// placeFlags choose the config and where hrmd keeps its files: run's and
// doctor's alike, so that the doctor checks what run would run.
type placeFlags struct {
	config, home, model *string
}

func addPlaceFlags(fl *flag.FlagSet, configText string) placeFlags {
	return placeFlags{
		config: fl.String("config", "", configText),
		home: fl.String("home", "", "lay the inbox, outbox, spool and engine cache under this `DIR` (DIR/inbox, "+
			"DIR/outbox, DIR/work, DIR/done, DIR/failed, DIR/trt) over the config's folders; without --config, "+
			"no config is read: the defaults with these folders, for a run from a clone without root"),
		model: fl.String("model", "", "the model bundle folder `DIR` (default: model: in the config)"),
	}
}

// configPath is the config to read: --config; with --home alone, none
// (""); else defaultConfig.
func (p placeFlags) configPath() string {
	switch {
	case *p.config != "":
		return *p.config
	case *p.home != "":
		return ""
	}
	return defaultConfig
}

// over is --home and --model, the first made absolute: the daemon's log
// and the doctor name the folders as they are.
func (p placeFlags) over() (config.Over, error) {
	o := config.Over{Home: *p.home, Model: *p.model}
	if o.Home != "" {
		abs, err := filepath.Abs(o.Home)
		if err != nil {
			return o, fmt.Errorf("--home %s: %w", o.Home, err)
		}
		o.Home = abs
	}
	return o, nil
}

// load reads configPath (the defaults for none) with the flags over it.
func (p placeFlags) load() (config.Config, config.Over, error) {
	over, err := p.over()
	if err != nil {
		return config.Config{}, over, err
	}
	cfg, err := over.Read(p.configPath(), false)
	return cfg, over, err
}

// runFlags are run's command line.
type runFlags struct {
	place             placeFlags
	instance, sysroot *string
	shutdown          *time.Duration
	adopt             *bool
}

func newRunFlags() (*flag.FlagSet, runFlags) {
	fl := newFlagSet("run")
	return fl, runFlags{
		place: addPlaceFlags(fl, "the configuration `FILE` (default "+defaultConfig+"; with --home, none)"),
		instance: fl.String("instance", "",
			"this daemon's `NAME` in the spool (work/NAME/); default $HRMD_INSTANCE, else the host name"),
		shutdown: fl.Duration("shutdown-timeout", 30*time.Second,
			"how long SIGTERM waits for the batch in flight, a `DURATION`"),
		adopt: fl.Bool("adopt-orphans", false, "take up the files of work/ folders that no running hrmd holds "+
			"(left by a daemon under another instance name)"),
		sysroot: fl.String("sysroot", "/", "read the device's /proc, /sys, /etc and /dev below this `DIR` "+
			"(a container with the host's mounted elsewhere)"),
	}
}

func cmdRun(_ context.Context, args []string, _, stderr io.Writer) error {
	fl, f := newRunFlags()
	if err := parseNoArgs(fl, args, "run"); err != nil {
		return err
	}
	inst, err := instanceName(*f.instance)
	if err != nil {
		return err
	}
	cfg, over, err := f.place.load()
	if err != nil {
		return err
	}
	opts := daemon.Options{
		ConfigPath: f.place.configPath(), Config: cfg, Over: over, Instance: inst, ShutdownTimeout: *f.shutdown,
		AdoptOrphans: *f.adopt, Sysroot: *f.sysroot, Version: version, Log: stderr,
	}
	if cfg.Queue.Role != "" { // a fleet member
		opts.Fleet = fleet.New(cfg, inst)
	}
	d, err := daemon.New(opts)
	if err != nil {
		return err
	}
	ctx, stop := handleSignals(d)
	defer stop()
	return d.Run(ctx) // an error is printed by Main, once
}

// handleSignals maps signals onto the daemon, which has none of its own:
// SIGTERM and SIGINT end the returned context (the batch in flight is
// finished; during the first load, the load is stopped), SIGHUP reloads. They
// are heard from here on: one while the model loads is acted on as it comes.
// stop gives the signals back to their default.
func handleSignals(d *daemon.Daemon) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == syscall.SIGHUP {
					d.Reload()
					continue
				}
				cancel(signalled{sig}) // the daemon's log names it
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
		cancel(nil)
	}
}

// signalled is the cause of a stop by a signal: its name ("terminated").
type signalled struct{ os.Signal }

func (s signalled) Error() string { return s.Signal.String() }

// instanceName is the name of this daemon's work/ subfolder: a restarted
// daemon takes up its own work, and several daemons can share one spool.
func instanceName(flagValue string) (string, error) {
	name := flagValue
	if name == "" {
		name = os.Getenv("HRMD_INSTANCE")
	}
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("no --instance given and no host name: %w", err)
		}
		name = h
	}
	if err := spool.CheckInstance(name); err != nil {
		return "", usageError("%v", err)
	}
	return name, nil
}
