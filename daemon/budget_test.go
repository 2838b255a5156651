package daemon

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/puzzles"
)

// What a file counts against the memory budget is at least what it holds
// in memory once parsed (runtime.MemStats, the heap after a collection),
// whose estimate is not far over it, for the files at the limits that cost
// the most: a
// task file's grids take about four times their text (an int a cell), so
// counting bytes on disk let twenty such files through a budget meant for
// far less.
func TestMemoryBudgetCountsParsedFiles(t *testing.T) {
	lim := config.Default().Limits()
	for _, tt := range []struct {
		name                string
		tasks, pairs, tests int
		side                int
	}{
		{"8,190 rows: test inputs 15x15", 819, 0, 10, 15},
		{"demonstrations 30x30", 52, 20, 1, 30},
		{"test inputs 3x3", 2000, 0, 10, 3},
		{"test inputs 1x1", 2000, 0, 10, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := taskBundle(tt.tasks, tt.pairs, tt.tests, tt.side)
			if int64(len(data)) > lim.Bytes {
				t.Fatalf("the file is %d bytes, over watch.max_file_bytes %d: not a file the daemon holds", len(data), lim.Bytes)
			}
			file, held := parsedHeap(t, data, lim)
			counted := newJob("f.json", "f.json", file, int64(len(data))).size
			estimate := parsedBytes(file)
			t.Logf("%d bytes on disk, %d held once parsed, %d estimated (%.2f of held), %d counted with the results",
				len(data), held, estimate, float64(estimate)/float64(held), counted)
			if counted < held {
				t.Errorf("counted %d bytes against the budget, but the parsed file holds %d", counted, held)
			}
			if estimate < held || estimate > 2*held {
				t.Errorf("the parsed file holds %d bytes, estimated %d: want at least that and at most twice", held, estimate)
			}
		})
	}
}

// parsedHeap parses data and measures how much the heap holds for the
// parsed file: the live heap after a collection, before and after. Other
// goroutines' allocations can only add to it, so the lesser of two tries
// is the file's.
func parsedHeap(t *testing.T, data []byte, lim puzzles.Limits) (*puzzles.File, int64) {
	t.Helper()
	var file *puzzles.File
	held := int64(-1)
	for range 2 {
		file = nil
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, err := puzzles.Parse(data, "f", lim)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(data) // in the heap before and after: not counted
		if n := int64(after.HeapAlloc) - int64(before.HeapAlloc); held < 0 || n < held {
			held = n
		}
		file = f
	}
	return file, held
}

// taskBundle is a multi-task file of tasks tasks, each with pairs
// demonstrations and tests test inputs of side x side grids of ones.
func taskBundle(tasks, pairs, tests, side int) []byte {
	row := "[" + strings.Repeat("1,", side-1) + "1]"
	grid := "[" + strings.Repeat(row+",", side-1) + row + "]"
	pair := `{"input":` + grid + `,"output":` + grid + `}`
	test := `{"input":` + grid + `}`
	train := strings.TrimSuffix(strings.Repeat(pair+",", pairs), ",")
	task := `{"train":[` + train + `],"test":[` + strings.TrimSuffix(strings.Repeat(test+",", tests), ",") + `]}`
	var b strings.Builder
	b.WriteByte('{')
	for k := range tasks {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%04d":%s`, k, task)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
