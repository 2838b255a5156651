package bundle

import "testing"

// The tiny bundles package engine runs in its tests.
const (
	fixtureDir    = "../testdata/nova-tiny"
	actFixtureDir = "../testdata/act-v1-tiny"
)

// loadCheckSet reads a fixture bundle and its check set.
func loadCheckSet(t *testing.T, dir string) (*Bundle, *CheckSet) {
	t.Helper()
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := LoadCheckSet(b)
	if err != nil || cs == nil {
		t.Fatalf("check set of %s: %v", dir, err)
	}
	return b, cs
}
