package main

import (
	"fmt"
	"testing"
)

// TestMetricSum reads a metric whatever the order of its labels, summing
// the samples that have the labels asked for.
func TestMetricSum(t *testing.T) {
	body := `# HELP hrmd_queue_published_total x
hrmd_queue_published_total{result="duplicate",stream="answers"} 3
hrmd_queue_published_total{result="stored",stream="answers"} 40
hrmd_queue_published_total{result="duplicate",stream="puzzles"} 2
hrmd_queue_published_total_other{result="duplicate",stream="answers"} 100
hrmd_queue_redeliveries_total 7
`
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hrmd_queue_published_total", map[string]string{"stream": "answers", "result": "duplicate"}, 3},
		{"hrmd_queue_published_total", map[string]string{"result": "duplicate"}, 5},
		{"hrmd_queue_published_total", nil, 45},
		{"hrmd_queue_redeliveries_total", nil, 7},
		{"hrmd_queue_acks_total", nil, 0},
	} {
		got, found := metricSum(body, c.name, c.labels)
		if got != c.want || found != (c.want != 0) {
			t.Errorf("metricSum(%s, %v) = %g, %v; want %g, %v", c.name, c.labels, got, found, c.want, c.want != 0)
		}
	}
}

// TestBursts: every file in exactly one burst, the bursts of about the
// same size, the bad files spread over them.
func TestBursts(t *testing.T) {
	var tasks []fleetFile
	for i := range 500 {
		tasks = append(tasks, fleetFile{name: fmt.Sprintf("t%d.json", i)})
	}
	bad := badFiles(10)
	seen := map[string]int{}
	for i, b := range (&fleet{}).bursts(tasks, bad, 5) {
		nbad := 0
		for _, f := range b {
			seen[f.name]++
			if f.code != "" {
				nbad++
			}
		}
		if len(b) != 102 || nbad != 2 {
			t.Errorf("burst %d: %d files, %d bad; want 102 and 2", i, len(b), nbad)
		}
	}
	if len(seen) != 510 {
		t.Errorf("%d files in the bursts, want 510", len(seen))
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s in %d bursts", name, n)
		}
	}
}
