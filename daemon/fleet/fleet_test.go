package fleet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// fleetSpool is a spool whose hrmd plays role in a fleet on the server at url.
func fleetSpool(t *testing.T, url, role, name string, edit func(*config.Config)) *spoolUnderTest {
	return newSpool(t, func(c *config.Config) {
		c.Queue.Role, c.Queue.Servers, c.Queue.Name, c.Queue.Replicas = role, []string{url}, name, 1
		if edit != nil {
			edit(c)
		}
	})
}

// A gateway and a worker, separate processes on one NATS server: the
// gateway's files are answered by the worker and written by the gateway
// (the answer naming the worker), a file the gateway cannot parse fails
// there, one the worker refuses comes back as its error file, and both
// say /readyz 503 while the server is down and 200 once it is back.
func TestFleetGatewayAndWorker(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	gw := fleetSpool(t, srv.URL, config.RoleGateway, "gw", nil)
	wk := fleetSpool(t, srv.URL, config.RoleWorker, "w1", func(c *config.Config) { c.Watch.MaxTestInputs = 1 })
	g := gw.start()
	w := wk.start()
	g.WaitEvent("ready", 1, time.Minute)
	w.WaitEvent("ready", 1, time.Minute)

	arc := testenv.ARCDir(t)
	for _, name := range []string{"007bbfb7.json", "00d62c1b.json"} {
		data, err := os.ReadFile(filepath.Join(arc, "training", name))
		if err != nil {
			t.Fatal(err)
		}
		gw.drop(name, data)
	}
	twoTests, err := os.ReadFile(
		filepath.Join(arc, "training", "25ff71a9.json"),
	) // two test inputs: over the worker's limit of 1
	if err != nil {
		t.Fatal(err)
	}
	gw.drop("two-tests.json", twoTests)
	gw.drop("broken.json", []byte(`{"train": [`))
	g.WaitEvent("answered", 2, 2*time.Minute)
	g.WaitEvent("failed", 2, time.Minute)
	for _, l := range g.Events("answered") {
		if l.Fields["worker"] != "w1" || l.Fields["queue_id"] == "" || l.Fields["attempt"] != float64(1) {
			t.Errorf("the gateway's answered line %v does not name worker w1, a queue id and attempt 1", l)
		}
	}
	codes := map[string]string{}
	for _, l := range g.Events("failed") {
		codes[l.Fields["name"].(string)] = l.Fields["code"].(string)
	}
	if codes["broken.json"] != "not_json" || codes["two-tests.json"] != "too_many_test_inputs" {
		t.Errorf(
			"failed files: %v; want broken.json not_json (the gateway's) and two-tests.json too_many_test_inputs (the worker's)",
			codes,
		)
	}
	var e daemon.ErrorFile
	data, err := os.ReadFile(filepath.Join(gw.failed, "two-tests.json.error.json"))
	if err != nil || json.Unmarshal(data, &e) != nil || e.File != "two-tests.json" ||
		!strings.Contains(e.Message, "watch.max_test_inputs") {
		t.Errorf("the worker's error file: %s, %v", data, err)
	}
	if got := hrmdtest.Inputs(gw.done); len(got) != 2 {
		t.Errorf("done/ holds %v, want the two tasks", got)
	}
	for _, name := range []string{"007bbfb7.json", "00d62c1b.json"} {
		if _, err := os.Stat(filepath.Join(gw.outbox, name)); err != nil {
			t.Errorf("no answer: %v", err)
		}
	}
	if n := len(w.Events("answered")); n != 2 {
		t.Errorf("the worker logged %d answered, want 2", n)
	}

	srv.Kill()
	for _, p := range []*hrmdtest.Daemon{g, w} {
		waitReadyz(t, p, http.StatusServiceUnavailable, "queue: not connected")
	}
	srv.Start()
	for _, p := range []*hrmdtest.Daemon{g, w} {
		waitReadyz(t, p, http.StatusOK, "ready")
	}
	data, err = os.ReadFile(filepath.Join(arc, "training", "0520fde7.json"))
	if err != nil {
		t.Fatal(err)
	}
	gw.drop("after.json", data)
	g.WaitEvent("answered", 3, 2*time.Minute)
	for _, p := range []*hrmdtest.Daemon{g, w} {
		p.Signal(syscall.SIGTERM)
		if code := p.WaitExit(time.Minute); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
	}
}

// waitReadyz waits until /readyz answers code with a body starting with text.
func waitReadyz(t *testing.T, p *hrmdtest.Daemon, code int, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, body := p.Get("/readyz")
		if got == code && strings.HasPrefix(body, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz says %d %q; want %d %q", got, body, code, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A gateway does not start on a stream that would lose work: it exits
// with queue_refused, naming the stream and why.
func TestFleetRefusesALossyStream(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	lossy := jetstream.StreamConfig{Name: "HRMD_PUZZLES", Subjects: []string{"hrmd.puzzles.>"}, MaxAge: time.Hour}
	if _, err := js.CreateStream(context.Background(), lossy); err != nil {
		t.Fatal(err)
	}
	p := fleetSpool(t, srv.URL, config.RoleGateway, "gw", nil).start()
	if code := p.WaitExit(time.Minute); code == 0 {
		t.Fatal("hrmd started on a limits-retention stream")
	}
	log := p.Log()
	for _, want := range []string{"queue_refused", "stream HRMD_PUZZLES", "retention is Limits"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}
}
