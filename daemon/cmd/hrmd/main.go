// Command hrmd serves the Hierarchical Reasoning Model: `hrmd run` is the
// daemon (package daemon); solve, eval, doctor and version are one-shot
// commands around the same answering core (package answer). See `hrmd help`.
package main

import "os"

// version is stamped in at build time (build.sh: -ldflags -X main.version=...).
var version = "dev"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
