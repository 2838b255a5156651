// Package doctest holds README.md and docs/ to what the commands they show
// really do: its test runs every command block that can run here and compares
// every sample output with what the command prints, so a sample that drifts
// (a model's sha256, a flag renamed, a line added) fails ./build.sh test.
//
// A Markdown page says how each fenced block is held with an HTML comment on
// the line before it, which a reader of the rendered page does not see:
//
//	<!-- doctest: run -->
//	    The block is a bash script (set -euo pipefail), run in a copy of the
//	    clone whose bin/hrmd is the hrmd under test; it must exit 0.
//	<!-- doctest: output of `COMMAND`; vary durations, paths -->
//	    The block is what COMMAND prints on stdout. Without `of`, it is what the
//	    command before it printed: a run block's, or another output block's
//	    (its stdout after a sample of its stderr, say).
//	<!-- doctest: skip: WHY -->
//	    The block is not run here, for the reason given (it needs sudo, a
//	    Jetson, the network, a checkpoint we do not have).
//
// Every sh block, and every block whose first line is a `$ ` prompt, must
// carry one of them: a command added to the docs is either run or says why
// not. Options after `;`:
//
//	vary NAME, ...   values that change from run to run or machine to machine,
//	                 masked on both sides before comparing: durations (also
//	                 JSON's "latency_ms" and "took"), numbers, paths (under
//	                 /tmp), hex (7 to 64 hex digits), version (hrmd's own
//	                 version word), device (the answer's "device"), or
//	                 /REGEXP/ for a value of one sample only
//	part             the block's lines are a contiguous part of the output
//	stderr           compare stderr instead of stdout
//	exit N           the command must exit N (default 0)
//	checked by PKG   another package's test runs the command (it needs what
//	                 only that package has) and calls Match itself
//
// Commands in prose are not run, but every hrmd command line a page shows,
// in a code span or a block, must name only flags its command takes.
//
// Runs of spaces count as one, so a column that widens by a digit matches. A
// sample line `[... anything ...]` stands for any number of lines.
package doctest
