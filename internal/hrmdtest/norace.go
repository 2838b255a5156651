//go:build !race

package hrmdtest

const raceEnabled = false
