package hrmdtest

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"time"
)

// NATSCluster is a JetStream cluster of nats-server processes on
// 127.0.0.1, each in a folder of its own under the cluster's (kept on
// failure, like the daemons' logs). The cluster is NATS's, not hrmd's: a
// test starts it, kills a server and starts it again.
type NATSCluster struct {
	Servers []*NATSServer
}

// StartNATSCluster writes the configs of n servers (n1, n2, ...) under
// dir and starts them all; WaitHealthy says when JetStream is up. The
// cluster comes back with an error too when some of it started: the
// caller kills it.
func StartNATSCluster(bin, dir string, n int) (*NATSCluster, error) {
	c := &NATSCluster{}
	var routes []string
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		s, err := NewNATSServer(bin, filepath.Join(dir, name), name)
		if err != nil {
			return c, err
		}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", s.RoutePort))
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		s.Routes = routes
		if err := s.Start(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Server is the server named name (nil if none is).
func (c *NATSCluster) Server(name string) *NATSServer {
	i := slices.IndexFunc(c.Servers, func(s *NATSServer) bool { return s.Name == name })
	if i < 0 {
		return nil
	}
	return c.Servers[i]
}

// Kill ends every server still running: clean-up, errors do not matter.
func (c *NATSCluster) Kill() {
	for _, s := range c.Servers {
		if s.Running() {
			_ = s.Kill9()
		}
	}
}

// URLs are the client URLs of every server: hrmd.yaml's queue.servers.
func (c *NATSCluster) URLs() []string {
	var out []string
	for _, s := range c.Servers {
		out = append(out, s.URL())
	}
	return out
}

// Died is an error naming a server that exited without being killed by
// the driver (nil when none did).
func (c *NATSCluster) Died() error {
	for _, s := range c.Servers {
		if err := s.Died(); err != nil {
			return err
		}
	}
	return nil
}

// Wait polls cond until it holds. A server that exits on its own
// meanwhile ends the wait, naming its log; the deadline bounds a hung run.
func (c *NATSCluster) Wait(what string, timeout time.Duration, cond func() (bool, string)) error {
	var died error
	err := Wait(what, timeout, func() (bool, string) {
		if died = c.Died(); died != nil {
			return true, ""
		}
		return cond()
	})
	if err == nil && died != nil {
		return fmt.Errorf("%w, while waiting for %s", died, what)
	}
	return err
}

// WaitFor is Wait for a condition with nothing to say of what it saw.
func (c *NATSCluster) WaitFor(what string, timeout time.Duration, cond func() bool) error {
	return c.Wait(what, timeout, func() (bool, string) { return cond(), "" })
}

// WaitHealthy waits until /healthz answers 200 on every running server:
// JetStream is up there, in contact with a meta leader, and what it holds
// of each stream is current.
func (c *NATSCluster) WaitHealthy(timeout time.Duration) error {
	return c.Wait("/healthz 200 on every nats-server", timeout, func() (bool, string) {
		for _, s := range c.Servers {
			if s.Running() {
				if ok, seen := s.healthy(); !ok {
					return false, s.Name + ": " + seen
				}
			}
		}
		return true, ""
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

// WaitMeta waits until every running server names the same running
// leader of the meta group, of the cluster's size, and the leader counts
// every other running server as a current peer: the cluster is whole, a
// restarted server has rejoined. It returns the leader's name.
func (c *NATSCluster) WaitMeta(timeout time.Duration) (string, error) {
	var leader string
	err := c.Wait("one JetStream meta leader with every running nats-server current", timeout, func() (bool, string) {
		leader = ""
		for _, s := range c.Servers {
			var j metaCluster
			if !s.Running() {
				continue
			}
			code, err := s.Monitor("/jsz", &j)
			if err != nil || code != http.StatusOK || j.Meta.Size != len(c.Servers) ||
				j.Meta.Leader == "" || (leader != "" && j.Meta.Leader != leader) {
				return false, fmt.Sprintf("%s: /jsz %d, leader %q of %d (%v)",
					s.Name, code, j.Meta.Leader, j.Meta.Size, err)
			}
			leader = j.Meta.Leader
		}
		return leader != "" && c.leaderSeesAll(leader), "leader " + leader
	})
	return leader, err
}

// leaderSeesAll reports whether the meta leader is running and counts
// every other running server as a current, online peer.
func (c *NATSCluster) leaderSeesAll(leader string) bool {
	l := c.Server(leader)
	var j metaCluster
	if l == nil || !l.Running() {
		return false
	}
	if code, err := l.Monitor("/jsz", &j); err != nil || code != http.StatusOK {
		return false
	}
	for _, s := range c.Servers {
		if s == l || !s.Running() {
			continue
		}
		current := func(r metaPeer) bool { return r.Name == s.Name && r.Current && !r.Offline }
		if !slices.ContainsFunc(j.Meta.Replicas, current) {
			return false
		}
	}
	return true
}

// StreamLeader is the server that leads the stream's Raft group, as the
// running servers' /jsz say ("" when none says).
func (c *NATSCluster) StreamLeader(stream string) string {
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
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		if code, err := s.Monitor("/jsz?accounts=true&streams=true", &j); err != nil || code != http.StatusOK {
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
