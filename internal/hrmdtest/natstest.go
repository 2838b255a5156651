package hrmdtest

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// NATS is one nats-server started by a test (StartNATS), stopped when the
// test ends; it keeps its port and store across a Kill and Start. What
// fails fails the test.
type NATS struct {
	t   testing.TB
	srv *NATSServer
	URL string
}

// StartNATS starts a nats-server with JetStream on 127.0.0.1 and waits
// until it is healthy; extra is more of its config (max_payload: 8MB, say).
func StartNATS(t testing.TB, extra string) *NATS {
	t.Helper()
	srv, err := NewNATSServer(NATSServerBinary(t), t.TempDir(), "nats")
	if err != nil {
		t.Fatal(err)
	}
	srv.Extra = extra
	n := &NATS{t: t, srv: srv, URL: srv.URL()}
	t.Cleanup(n.Kill)
	n.Start()
	return n
}

// Start starts the server (again) and waits until it is healthy.
func (n *NATS) Start() {
	n.t.Helper()
	if err := n.srv.Start(); err != nil {
		n.t.Fatal(err)
	}
	if err := n.srv.WaitHealthy(30 * time.Second); err != nil {
		n.t.Fatalf("%v (its config: %s)", err, n.srv.Config)
	}
}

// Configure gives the server extra in place of the config it had beside
// its listen, monitoring and JetStream lines, from its next start or
// Reload.
func (n *NATS) Configure(extra string) {
	n.t.Helper()
	n.srv.Extra = extra
	if err := n.srv.WriteConfig(); err != nil {
		n.t.Fatal(err)
	}
}

// Reload configures the running server with extra and has it read its
// config again (SIGHUP), as an operator changing authorization would.
func (n *NATS) Reload(extra string) {
	n.t.Helper()
	n.srv.Extra = extra
	if err := n.srv.Reload(); err != nil {
		n.t.Fatal(err)
	}
}

// Monitor reads the server's monitoring endpoint path (/connz?state=closed,
// say) into v.
func (n *NATS) Monitor(path string, v any) error {
	code, err := n.srv.Monitor(path, v)
	if err == nil && code != 200 {
		err = fmt.Errorf("GET %s: %d", path, code)
	}
	return err
}

// Signal sends sig to the running server: SIGSTOP hangs it as a power
// cut or a pulled cable would (nothing resets its connections), SIGCONT
// ends that.
func (n *NATS) Signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.srv.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
}

// Kill stops the server with SIGKILL, as a crash would.
func (n *NATS) Kill() {
	if n.srv.Running() {
		_ = n.srv.Kill9()
	}
}
