package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/puzzles"
)

// TestBadFiles holds the fleet scenario's bad files to the codes it
// expects of the daemon, as the parser gives them: a scenario that failed
// on a wrong expectation would say nothing about the fleet.
func TestBadFiles(t *testing.T) {
	lim := config.Default().Limits()
	seen := map[string]bool{}
	for _, b := range badFiles(lim.Bytes) {
		if seen[string(b.data)] {
			t.Errorf("%s: the same bytes as another bad file (the checker knows files by their content)", b.name)
		}
		seen[string(b.data)] = true
		if b.code == puzzles.CodeTooBig { // refused by its size before it is read
			if int64(len(b.data)) <= lim.Bytes {
				t.Errorf("%s: %d bytes, not over watch.max_file_bytes %d", b.name, len(b.data), lim.Bytes)
			}
			continue
		}
		_, err := puzzles.Parse(b.data, strings.TrimSuffix(b.name, ".json"), lim)
		var pe *puzzles.Error
		if !errors.As(err, &pe) || pe.Code != b.code {
			t.Errorf("%s: Parse gives %v, want code %s", b.name, err, b.code)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d bad files, want 10", len(seen))
	}
}
