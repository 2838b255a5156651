package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// natsCluster is a JetStream cluster of nats-server processes on
// 127.0.0.1, each with its config file, store and log in a folder of its
// own (kept on failure, like the daemons' logs). The cluster is NATS's,
// not hrmd's: the fleet scenario only starts it, kills a server and
// starts it again.
type natsCluster struct {
	servers []*natsServer
	client  *http.Client
}

// natsServer is one server of the cluster. Its ports stay the same across
// restarts: the others' routes name them.
type natsServer struct {
	bin, name, dir, config, logPath string
	clientPort, httpPort, routePort int
	routes                          []string
	// authorization is the config's authorization block ("" = none):
	// which keys the clients may log in with.
	authorization string

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has ended
	state  *os.ProcessState
	starts int
	killed bool // by the driver: its exit is no failure
}

// startNATSCluster writes the configs of n servers under dir and starts
// them all; waitHealthy says when JetStream is up.
func startNATSCluster(bin, dir string, n int) (*natsCluster, error) {
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	c := &natsCluster{client: &http.Client{Timeout: 5 * time.Second}}
	var routes []string
	for i := range n {
		s := &natsServer{bin: bin, name: fmt.Sprintf("n%d", i+1), clientPort: ports[3*i], httpPort: ports[3*i+1], routePort: ports[3*i+2]}
		s.dir = filepath.Join(dir, s.name)
		s.config, s.logPath = filepath.Join(s.dir, "nats.conf"), filepath.Join(s.dir, "nats-server.log")
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", s.routePort))
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		s.routes = routes
		if err := s.writeConfig(); err != nil {
			return c, err
		}
		if err := s.start(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// freePorts are n TCP ports free on 127.0.0.1 now, all held at once so
// that no two are the same.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("a free port on 127.0.0.1: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeConfig writes the server's config: the cluster's routes (its own
// among them, which nats-server ignores), JetStream with a store of its
// own, monitoring for /healthz, and max_payload 8MB, which hrmd needs for
// a 4 MiB task with its headers (the default is 1 MB).
func (s *natsServer) writeConfig() error {
	if err := os.MkdirAll(filepath.Join(s.dir, "store"), 0o755); err != nil {
		return fmt.Errorf("nats-server %s's folder: %w", s.name, err)
	}
	conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 1GB
}
cluster {
  name: hrmd-torture
  listen: 127.0.0.1:%d
  routes: [
    %s
  ]
}
%s
`, s.name, s.clientPort, s.httpPort, filepath.Join(s.dir, "store"), s.routePort, strings.Join(s.routes, "\n    "), s.authorization)
	if err := os.WriteFile(s.config, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("nats-server %s's config: %w", s.name, err)
	}
	return nil
}

// start starts the server on its config, its output appended to its log.
func (s *natsServer) start() error {
	log, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("nats-server %s's log: %w", s.name, err)
	}
	s.starts++
	fmt.Fprintf(log, "--- hrmd-torture: start #%d at %s\n", s.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "-c", s.config)
	cmd.Stdout, cmd.Stderr = log, log
	// Should the driver die, the servers die with it, as its daemons do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start nats-server %s (%s): %w", s.name, s.bin, err)
	}
	s.cmd, s.exited, s.killed = cmd, make(chan struct{}), false
	go func() {
		cmd.Wait()
		log.Close()
		s.state = cmd.ProcessState
		close(s.exited)
	}()
	return nil
}

func (s *natsServer) running() bool { return s.exited != nil && !closed(s.exited) }

// reload writes the server's config again (its authorization changed)
// and has it read it (SIGHUP), as an operator would.
func (s *natsServer) reload() error {
	if err := s.writeConfig(); err != nil {
		return err
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to nats-server %s: %w", s.name, err)
	}
	return nil
}

// kill9 kills the server with SIGKILL and waits for it to be gone.
func (s *natsServer) kill9() error {
	s.killed = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL to nats-server %s: %w", s.name, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("nats-server %s (pid %d) still there 60 s after SIGKILL", s.name, s.cmd.Process.Pid)
	}
}

// server is the server named name (nil if none is).
func (c *natsCluster) server(name string) *natsServer {
	i := slices.IndexFunc(c.servers, func(s *natsServer) bool { return s.name == name })
	if i < 0 {
		return nil
	}
	return c.servers[i]
}

// kill ends every server still running: clean-up, errors do not matter.
func (c *natsCluster) kill() {
	for _, s := range c.servers {
		if s.running() {
			_ = s.kill9()
		}
	}
}

// get reads a monitoring endpoint of s into v (a JSON body) and returns
// the status code; v may be nil.
func (c *natsCluster) get(s *natsServer, path string, v any) (int, error) {
	resp, err := c.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.httpPort, path))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && v != nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		return resp.StatusCode, fmt.Errorf("nats-server %s %s: %w", s.name, path, err)
	}
	return resp.StatusCode, nil
}

// waitFor polls cond until it holds. A server that exits on its own
// meanwhile ends the wait, naming its log; the deadline bounds a hung run.
func (c *natsCluster) waitFor(what string, timeout time.Duration, cond func() bool) error {
	var died error
	err := waitFor(what, timeout, func() bool {
		died = c.died()
		return died != nil || cond()
	})
	if err == nil && died != nil {
		return fmt.Errorf("%w, while waiting for %s", died, what)
	}
	return err
}

// died is an error naming a server that exited without being killed by
// the driver (nil when none did).
func (c *natsCluster) died() error {
	i := slices.IndexFunc(c.servers, func(s *natsServer) bool { return s.exited != nil && !s.killed && !s.running() })
	if i < 0 {
		return nil
	}
	s := c.servers[i]
	return fmt.Errorf("nats-server %s exited (%v) on its own; its log: %s", s.name, s.state, s.logPath)
}

// waitHealthy waits until /healthz answers 200 on every running server:
// JetStream is up there, in contact with a meta leader, and what it holds
// of each stream is current.
func (c *natsCluster) waitHealthy(timeout time.Duration) error {
	return c.waitFor("/healthz 200 on every nats-server", timeout, func() bool {
		for _, s := range c.servers {
			if s.running() {
				if code, err := c.get(s, "/healthz", nil); err != nil || code != http.StatusOK {
					return false
				}
			}
		}
		return true
	})
}

// metaCluster is the part of /jsz that says who leads the cluster's
// JetStream meta group and how current its peers are.
type metaCluster struct {
	Meta struct {
		Leader   string     `json:"leader"`
		Size     int        `json:"cluster_size"`
		Replicas []metaPeer `json:"replicas"`
	} `json:"meta_cluster"`
}

// metaPeer is a peer of the meta group, as its leader sees it.
type metaPeer struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
}

// waitMeta waits until every running server names the same running
// leader of the meta group, of the cluster's size, and the leader counts
// every other running server as a current peer: the cluster is whole, a
// restarted server has rejoined. It returns the leader's name.
func (c *natsCluster) waitMeta(timeout time.Duration) (string, error) {
	var leader string
	err := c.waitFor("one JetStream meta leader with every running nats-server current", timeout, func() bool {
		leader = ""
		for _, s := range c.servers {
			var j metaCluster
			if !s.running() {
				continue
			}
			if code, err := c.get(s, "/jsz", &j); err != nil || code != http.StatusOK || j.Meta.Size != len(c.servers) ||
				j.Meta.Leader == "" || (leader != "" && j.Meta.Leader != leader) {
				return false
			}
			leader = j.Meta.Leader
		}
		return leader != "" && c.leaderSeesAll(leader)
	})
	return leader, err
}

// leaderSeesAll reports whether the meta leader is running and counts
// every other running server as a current, online peer.
func (c *natsCluster) leaderSeesAll(leader string) bool {
	l := c.server(leader)
	var j metaCluster
	if l == nil || !l.running() {
		return false
	}
	if code, err := c.get(l, "/jsz", &j); err != nil || code != http.StatusOK {
		return false
	}
	for _, s := range c.servers {
		if s == l || !s.running() {
			continue
		}
		if !slices.ContainsFunc(j.Meta.Replicas, func(r metaPeer) bool { return r.Name == s.name && r.Current && !r.Offline }) {
			return false
		}
	}
	return true
}

// streamLeader is the server that leads the stream's Raft group, as the
// running servers' /jsz say ("" when none says).
func (c *natsCluster) streamLeader(stream string) string {
	var j struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster *struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	for _, s := range c.servers {
		if !s.running() {
			continue
		}
		if code, err := c.get(s, "/jsz?accounts=true&streams=true", &j); err != nil || code != http.StatusOK {
			continue
		}
		for _, a := range j.Accounts {
			for _, st := range a.Streams {
				if st.Name == stream && st.Cluster != nil && st.Cluster.Leader != "" {
					return st.Cluster.Leader
				}
			}
		}
	}
	return ""
}

// urls are the client URLs of every server: queue.servers.
func (c *natsCluster) urls() []string {
	var out []string
	for _, s := range c.servers {
		out = append(out, fmt.Sprintf("nats://127.0.0.1:%d", s.clientPort))
	}
	return out
}
