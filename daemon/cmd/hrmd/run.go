package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet"
	"github.com/hrmd/hrmd/daemon/spool"
)

func cmdRun(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	configPath := fl.String("config", "/etc/hrmd/hrmd.yaml", "the configuration file")
	instance := fl.String(
		"instance",
		"",
		"this daemon's name in the spool (work/<instance>/); default $HRMD_INSTANCE, else the host name",
	)
	shutdown := fl.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for the batch in flight")
	adopt := fl.Bool(
		"adopt-orphans",
		false,
		"take up the files of work/ folders that no running hrmd holds (left by a daemon under another instance name)",
	)
	sysroot := fl.String(
		"sysroot",
		"/",
		"read the device's /proc, /sys, /etc and /dev below this folder (a container with the host's mounted elsewhere)",
	)
	if err := parseNoArgs(fl, args, "run"); err != nil {
		return err
	}
	inst, err := instanceName(*instance)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	opts := daemon.Options{
		ConfigPath: *configPath, Config: cfg, Instance: inst, ShutdownTimeout: *shutdown,
		AdoptOrphans: *adopt, Sysroot: *sysroot, Version: version, Log: stderr,
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
