package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/hrmd/hrmd/engine"
)

// newVersionFlags is version's flag set: none, but -h and --help.
func newVersionFlags() (*flag.FlagSet, struct{}) { return newFlagSet("version"), struct{}{} }

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl, _ := newVersionFlags()
	if err := parseNoArgs(fl, args, "version"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hrmd %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	log := cliLogger(stderr, false)
	defer log.Sync()
	cfg := engine.DefaultConfig()
	cfg.Providers = []string{engine.ProviderCPU}
	rt, err := engine.Open(cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	lib := rt.Library()
	fmt.Fprintf(stdout, "onnxruntime %s (%s)\n", rt.Version(), lib.Path)
	fmt.Fprintf(stdout, "  chosen: %s\n", lib.Reason)
	if lib.PassedOver != "" {
		fmt.Fprintf(stdout, "  passed over: %s\n", oneLine(lib.PassedOver))
	}
	fmt.Fprintln(stdout, "execution providers:")
	for _, p := range rt.Providers() {
		status := "available"
		if !p.Available {
			status = "unavailable: " + oneLine(p.Reason)
		}
		fmt.Fprintf(stdout, "  %-26s %s\n", p.ORTName, status)
	}
	return nil
}
