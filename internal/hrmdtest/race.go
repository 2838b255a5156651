//go:build race

package hrmdtest

// raceEnabled: the tests run with -race, and so does the hrmd they build.
const raceEnabled = true
