package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// The worker answers what the intake claims with the model it has, takes
// new settings (another model) between batches and closes the model they
// replace, and on stop returns and closes the one in use. No onnxruntime:
// the models shift colours, each by its own amount, so an answer says which
// model gave it.
func TestWorkerAnswersAndTakesNewSettings(t *testing.T) {
	d := newClaimsDaemon(t)
	d.notify = notifier{log: d.log}
	d.thermal = newThermalGuard(jetson.NewFS(t.TempDir()), d.cfg.Thermal, false, d.log, d.metrics)
	s1, m1 := shiftSettings(t, 1, 4)
	s2, m2 := shiftSettings(t, 3, 4)
	updates, stop, done := make(chan *settings), make(chan struct{}), make(chan struct{})
	wk := &worker{d: d, jobs: d.jobs, updates: updates, linger: time.Millisecond}
	go func() { defer close(done); wk.run(stop, context.Background(), s1) }()

	data := someTask(t)
	file, err := puzzles.Parse(data, "task.json", puzzles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	in := newIntake(d)
	answer := func(name string) puzzles.AnswerFile {
		t.Helper()
		in.claim(context.Background(), drop(t, d, name, data))
		testenv.WaitFor(t, 30*time.Second, name+" answered", func() bool {
			_, err := os.Stat(filepath.Join(d.spool.Done(), name))
			return err == nil
		})
		var a puzzles.AnswerFile
		testenv.ReadJSON(t, filepath.Join(d.spool.Outbox, name), &a)
		return a
	}
	checkShifted(t, "a.json", file.Tasks[0], answer("a.json"), 1)
	updates <- s2 // taken: applied before the next batch
	checkShifted(t, "b.json", file.Tasks[0], answer("b.json"), 3)
	if m1.closes() != 1 || m2.closes() != 0 {
		t.Errorf("after the switch: the first model closed %d times, the second %d; want 1 and 0", m1.closes(), m2.closes())
	}
	close(stop)
	<-done
	if m1.closes() != 1 || m2.closes() != 1 {
		t.Errorf("after stop: the models closed %d and %d times; want once each", m1.closes(), m2.closes())
	}
	if n := d.answered.Load(); n != 2 {
		t.Errorf("%d answered, want 2", n)
	}
}

// A batch the model fails sends its files to failed/ with the reason; the
// worker goes on with the next.
func TestWorkerModelFailureFailsTheFiles(t *testing.T) {
	d := newClaimsDaemon(t)
	d.notify = notifier{log: d.log}
	d.thermal = newThermalGuard(jetson.NewFS(t.TempDir()), d.cfg.Thermal, false, d.log, d.metrics)
	s, m := shiftSettings(t, 1, 4)
	m.Close() // a closed shiftModel refuses to run
	stop, done := make(chan struct{}), make(chan struct{})
	wk := &worker{d: d, jobs: d.jobs, updates: make(chan *settings), linger: time.Millisecond}
	go func() { defer close(done); wk.run(stop, context.Background(), s) }()
	in := newIntake(d)
	in.claim(context.Background(), drop(t, d, "x.json", someTask(t)))
	testenv.WaitFor(t, 30*time.Second, "x.json failed", func() bool {
		_, err := os.Stat(filepath.Join(d.spool.Failed(), "x.json.error.json"))
		return err == nil
	})
	var ef ErrorFile
	testenv.ReadJSON(t, filepath.Join(d.spool.Failed(), "x.json.error.json"), &ef)
	if ef.File != "x.json" || ef.Message == "" {
		t.Errorf("error file %+v", ef)
	}
	close(stop)
	<-done
	if n := d.failed.Load(); n != 1 {
		t.Errorf("%d failed, want 1", n)
	}
}
