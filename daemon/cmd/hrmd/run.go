package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/spool"
)

func cmdRun(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	configPath := fl.String("config", "/etc/hrmd/hrmd.yaml", "the configuration file")
	instance := fl.String("instance", "", "this daemon's name in the spool (work/<instance>/); default $HRMD_INSTANCE, else the host name")
	shutdown := fl.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for the batch in flight")
	adopt := fl.Bool("adopt-orphans", false, "take up the files of work/ folders that no running hrmd holds (left by a daemon under another instance name)")
	sysroot := fl.String("sysroot", "/", "read the device's /proc, /sys, /etc and /dev below this folder (a container with the host's mounted elsewhere)")
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
	return daemon.Run(daemon.Options{
		ConfigPath: *configPath, Config: cfg, Instance: inst, ShutdownTimeout: *shutdown,
		AdoptOrphans: *adopt, Sysroot: *sysroot, Version: version, Log: stderr,
	}) // an error is printed by Main, once
}

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
