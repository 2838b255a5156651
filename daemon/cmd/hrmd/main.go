// Command hrmd serves the Hierarchical Reasoning Model: see `hrmd help`.
package main

import (
	"os"

	"github.com/hrmd/hrmd/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
