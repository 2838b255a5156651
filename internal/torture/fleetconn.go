package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// The fleet's connection under faults the cluster does not announce
// (issue 22, F1 and F2): a key refused and given back, a server that hangs.
// Each runs a gateway and one worker over a three-server cluster, lets a
// first batch of tasks through to see the fleet work, does its fault with
// a second batch in the inbox, and times how long the fleet takes to move
// again. Every file must end in done/ or failed/ exactly once, no daemon
// may be restarted, and every line the daemons log must be JSON.

// hungMoveLimit is the most a fleet whose gateway's server hangs may take
// to answer files again (issue 22's acceptance).
const hungMoveLimit = 15 * time.Second

// connFleet starts a cluster of three servers and a gateway and one
// worker on it under subject; edit, if not nil, changes the cluster and
// the fleet before the daemons start.
func (e *env) connFleet(
	subject string,
	edit func(*hrmdtest.NATSCluster, *fleet) error,
) (*hrmdtest.NATSCluster, *fleet, error) {
	c, err := hrmdtest.StartNATSCluster(e.o.natsServer, filepath.Join(e.dir, "nats"), 3)
	if err != nil {
		return c, nil, err
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		return c, nil, err
	}
	if _, err := c.WaitMeta(2 * time.Minute); err != nil {
		return c, nil, err
	}
	f, err := e.newFleet(c, subject, 1)
	if err != nil {
		return c, nil, err
	}
	if edit != nil {
		if err := edit(c, f); err != nil {
			return c, nil, err
		}
	}
	return c, f, f.start()
}

// connTasks are the scenario's tasks: three batches of n.
func (e *env) connTasks(n int) ([][]fleetFile, error) {
	tasks, err := loadFleetTasks(e.o.fleetArc)
	if err != nil {
		return nil, err
	}
	if len(tasks) < 3*n {
		return nil, fmt.Errorf("%d tasks in %s; the scenario needs %d", len(tasks), e.o.fleetArc, 3*n)
	}
	return [][]fleetFile{tasks[:n], tasks[n : 2*n], tasks[2*n : 3*n]}, nil
}

// runFleetHang: the server the gateway is connected to is stopped with
// SIGSTOP (a power cut or a pulled cable: nothing resets its connections)
// while a batch waits in the inbox. The gateway and any worker on it must
// notice by their pings and move to another server; the time from the
// SIGSTOP to the first file of that batch answered is the figure, a
// problem above hungMoveLimit. The server then runs again (SIGCONT), and
// a third batch goes through.
func runFleetHang(e *env) (report, error) {
	batches, err := e.connTasks(e.size.connFiles)
	if err != nil {
		return report{}, err
	}
	c, f, err := e.connFleet("hrmd_hang", nil)
	if c != nil {
		defer c.Kill()
	}
	if err != nil {
		return report{}, err
	}
	if err := f.dropAndWait(batches[0]); err != nil {
		return report{}, err
	}
	gw := f.gateway[len(f.gateway)-1]
	s := f.gatewayServer(gw)
	if s == nil {
		return report{}, fmt.Errorf(
			"the gateway names no server of the cluster it is connected to (log lines queue: connected / reconnected)",
		)
	}
	moves := gw.Count("queue_reconnected")
	before := f.gw.finished()
	if err := s.Signal(syscall.SIGSTOP); err != nil {
		return report{}, err
	}
	stopped := time.Now()
	if err := f.dropBurst(batches[1]); err != nil {
		return report{}, err
	}
	if err := f.waitFinished(before+1, 2*time.Minute); err != nil {
		return report{}, err
	}
	flowing := time.Since(stopped)
	moved, err := gw.WaitEvent("queue_reconnected", moves+1, time.Minute)
	if err != nil {
		return report{}, err
	}
	if flowing > hungMoveLimit {
		e.problem("files flowed again %.1f s after the gateway's server hung; want at most %s",
			flowing.Seconds(), hungMoveLimit)
	}
	if err := f.waitFinished(before+len(batches[1]), 2*time.Minute); err != nil {
		return report{}, err
	}
	if err := s.Signal(syscall.SIGCONT); err != nil {
		return report{}, err
	}
	if err := f.dropAndWait(batches[2]); err != nil {
		return report{}, err
	}
	v := f.finish()
	return report{
		what: fmt.Sprintf("%d files through a gateway and a worker; nats-server %s, the gateway's, hung (SIGSTOP) "+
			"with %d files in the inbox, then run again", v.files, s.Name, len(batches[1])),
		v: v,
		extra: []string{fmt.Sprintf("the gateway moved to another server %.1f s after the hang (queue.ping_interval "+
			"%s); files answered again after %.1f s (at most %s)",
			moved.At.Sub(stopped).Seconds(), f.gw.cfg.Queue.PingInterval, flowing.Seconds(), hungMoveLimit)},
	}, nil
}

// runFleetKey: the fleet's nkey is revoked on every server (their
// authorization reloaded) while a batch waits in the inbox, refused
// until nats.go would have given up (pastGivingUp), then restored. The gateway's /readyz must say why it is down
// (the refused key, not the disconnect's EOF), and the fleet must answer
// the batch without a restart; the time from the restore to /readyz 200
// and to the batch answered are the figures.
func runFleetKey(e *env) (report, error) {
	batches, err := e.connTasks(e.size.connFiles)
	if err != nil {
		return report{}, err
	}
	seed, public, err := e.userKey("fleet")
	if err != nil {
		return report{}, err
	}
	_, nobody, err := e.userKey("nobody")
	if err != nil {
		return report{}, err
	}
	c, f, err := e.connFleet("hrmd_key", func(c *hrmdtest.NATSCluster, f *fleet) error {
		if err := authorize(c, public); err != nil {
			return err
		}
		f.q.NKey = seed // the workers' spools take it when they are made
		f.gw.cfg.Queue.NKey = seed
		return f.gw.writeConfig(f.gw.cfg)
	})
	if c != nil {
		defer c.Kill()
	}
	if err != nil {
		return report{}, err
	}
	if err := f.dropAndWait(batches[0]); err != nil {
		return report{}, err
	}
	gw := f.gateway[len(f.gateway)-1]
	before := f.gw.finished()
	if err := authorize(c, nobody); err != nil {
		return report{}, err
	}
	revoked := time.Now()
	if err := f.dropBurst(batches[1]); err != nil {
		return report{}, err
	}
	if err := gw.WaitFor("/readyz 503 naming the refused key", time.Minute, func() bool {
		code, body, err := gw.Get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable &&
			strings.Contains(strings.ToLower(body), "authorization violation")
	}); err != nil {
		return report{}, fmt.Errorf("the gateway's /readyz does not name the refused key: %w", err)
	}
	said := time.Since(revoked)
	if err := c.WaitFor("each daemon's key refused past nats.go's giving up", 2*time.Minute, f.pastGivingUp); err != nil {
		return report{}, err
	}
	if f.gw.finished() != before {
		e.problem("files were answered while the fleet's key was revoked")
	}
	if err := authorize(c, public); err != nil {
		return report{}, err
	}
	restored := time.Now()
	if err := gw.WaitReadyz(http.StatusOK, "ready", time.Minute); err != nil {
		return report{}, fmt.Errorf("the gateway did not recover after the key was restored: %w", err)
	}
	ready := time.Since(restored)
	if err := f.waitFinished(before+len(batches[1]), 2*time.Minute); err != nil {
		return report{}, err
	}
	answered := time.Since(restored)
	if err := f.dropAndWait(batches[2]); err != nil {
		return report{}, err
	}
	v := f.finish()
	refused := 0
	for _, n := range refusals(c) {
		refused += n
	}
	return report{what: fmt.Sprintf("%d files through a gateway and a worker on nkeys; the key revoked on every "+
		"server with %d files in the inbox, refused %d times, restored", v.files, len(batches[1]), refused),
		v: v, extra: []string{fmt.Sprintf("after the revocation /readyz named the refused key in %.1f s; after the restore, "+
			"/readyz 200 in %.1f s, the waiting files answered in %.1f s, no restart",
			said.Seconds(), ready.Seconds(), answered.Seconds())},
	}, nil
}

// dropAndWait drops a batch and waits until it is answered.
func (f *fleet) dropAndWait(batch []fleetFile) error {
	at := f.gw.finished()
	if err := f.dropBurst(batch); err != nil {
		return err
	}
	return f.waitFinished(at+len(batch), 2*time.Minute)
}

// finish stops the fleet and checks it: the gateway's spool, the workers'
// empty spools, one start each, and every log line JSON.
func (f *fleet) finish() verdict {
	f.stop()
	f.checkWorkerSpools()
	v := f.gw.check()
	for _, p := range f.e.procs {
		if n := p.notJSON(); n > 0 {
			f.e.problem("hrmd %s logged %d lines that are not JSON (its log: %s)", p.instance, n, p.LogPath())
		}
	}
	if len(f.gateway) != 1 || len(f.workers[f.names[0]]) != 1 {
		f.e.problem("a daemon of the fleet was started again")
	}
	return v
}

// notJSON counts the lines of the daemon's log that are not JSON objects.
func (p *hrmd) notJSON() int {
	n := 0
	for _, l := range p.Lines() {
		if l.Fields == nil {
			n++
		}
	}
	return n
}

// gatewayServer is the server the gateway last said it connected to.
func (f *fleet) gatewayServer(gw *hrmd) *hrmdtest.NATSServer {
	lines := append(gw.Events("queue_connected"), gw.Events("queue_reconnected")...)
	if len(lines) == 0 {
		return nil
	}
	last := slices.MaxFunc(lines, func(a, b hrmdtest.Line) int { return a.Seq - b.Seq })
	url, _ := last.Fields["server"].(string)
	i := slices.IndexFunc(
		f.c.Servers,
		func(s *hrmdtest.NATSServer) bool { return url == fmt.Sprintf("nats://127.0.0.1:%d", s.ClientPort) },
	)
	if i < 0 {
		return nil
	}
	return f.c.Servers[i]
}

// userKey makes an nkey user: its seed in a file of the scenario's (for
// queue.nkey), and its public key (for the servers' authorization).
func (e *env) userKey(name string) (seedFile, public string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", "", err
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", "", err
	}
	if public, err = kp.PublicKey(); err != nil {
		return "", "", err
	}
	seedFile = filepath.Join(e.dir, name+".nk")
	return seedFile, public, os.WriteFile(seedFile, seed, 0o600)
}

// authorize lets only the nkey user public log in to every server (their
// configs rewritten and reloaded).
func authorize(c *hrmdtest.NATSCluster, public string) error {
	for _, s := range c.Servers {
		s.Extra = fmt.Sprintf("authorization {\n  users: [ { nkey: %s } ]\n}\n", public)
		if err := s.Reload(); err != nil {
			return err
		}
	}
	return nil
}

// refusals are the client connections the servers closed for a refused
// key, by client name, as their /connz of closed connections records them.
func refusals(c *hrmdtest.NATSCluster) map[string]int {
	n := map[string]int{}
	for _, s := range c.Servers {
		var connz struct {
			Connections []struct {
				Name   string `json:"name"`
				Reason string `json:"reason"`
			} `json:"connections"`
		}
		if code, err := s.Monitor("/connz?state=closed&limit=10000", &connz); err != nil || code != http.StatusOK {
			continue
		}
		for _, conn := range connz.Connections {
			if strings.Contains(conn.Reason, "Authentication") || strings.Contains(conn.Reason, "Authorization") {
				n[conn.Name]++
			}
		}
	}
	return n
}

// pastGivingUp reports whether every daemon of the fleet has had its key
// refused more often than nats.go's default allows: it gives up on the
// same authorization error twice from one server, so 2 per server and
// one more mean some server refused it a third time.
func (f *fleet) pastGivingUp() bool {
	refused := refusals(f.c)
	for _, name := range append([]string{f.gw.cfg.Queue.Name}, f.names...) {
		if refused["hrmd "+name] <= 2*len(f.c.Servers) {
			return false
		}
	}
	return true
}
