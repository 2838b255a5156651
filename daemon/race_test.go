//go:build race

package daemon

// raceEnabled: the tests run with -race, and so does the hrmd they start.
const raceEnabled = true
