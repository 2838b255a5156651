package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hrmd/hrmd/daemon"
)

// floodHealthLimit is how long /healthz may take under the flood: a
// monitor that waits longer than this for a healthy daemon restarts it.
const floodHealthLimit = time.Second

// slowHolders are clients that send a request's header a byte at a time
// and never finish it (slowloris), connecting again whenever the daemon
// closes theirs.
type slowHolders struct{ *clients }

func openSlowHolders(addr string, n int) *slowHolders {
	h := &slowHolders{newClients(addr)}
	for range n {
		h.start(h.trickle)
	}
	return h
}

// trickle writes a header that never ends, a byte every 50 ms, until a
// write fails (the daemon closed the connection) or the holders stop.
func (h *slowHolders) trickle(conn net.Conn) {
	header := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\n", h.addr)
	for i := 0; ; i++ {
		if i == len(header) {
			header += "X-Slow: 1\r\n"
		}
		if _, err := conn.Write([]byte{header[i]}); err != nil {
			return
		}
		select {
		case <-h.stop:
			return
		case <-time.After(50 * time.Millisecond): // the attacker's pace
		}
	}
}

// runFlood: 200 idle connections (half after a request, half before one)
// and 40 slowloris holders, all reconnecting whenever the daemon closes
// theirs, while files flow. Every quarter second a monitor asks /healthz
// on a fresh connection, as curl would; every answer must come within
// floodHealthLimit, /readyz and /metrics must still be served, and the
// daemon's descriptors stay within its connection limit.
func runFlood(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{})
	if err != nil {
		return report{}, err
	}
	fds, err := watchFDs(p)
	if err != nil {
		return report{}, err
	}
	defer fds.end()
	idle := openIdlers(p.Addr(), e.size.conns)
	defer idle.close()
	slow := openSlowHolders(p.Addr(), e.size.slowHolders)
	defer slow.close()
	if err := p.WaitFor("every flooding client connected", 2*time.Minute, func() bool {
		idle.mu.Lock()
		n := len(idle.live)
		idle.mu.Unlock()
		return n >= e.size.conns/2 && slow.connected.Load() >= int64(e.size.slowHolders)
	}); err != nil {
		return report{}, err
	}
	if err := s.burst("flood", e.size.floodFiles); err != nil {
		return report{}, err
	}
	m := monitor{addr: p.Addr()}
	for start := time.Now(); time.Since(start) < e.size.floodFor || s.finished() < s.m.dropped(); {
		m.probe(e)
		time.Sleep(250 * time.Millisecond) // the monitor's rate, not a wait for a state
		if time.Since(start) > 10*time.Minute {
			e.problem("after 10 minutes of flood, %d of %d files finished", s.finished(), s.m.dropped())
			break
		}
	}
	idleClosed, slowMade := idle.closed.Load(), slow.connected.Load()
	idle.close()
	slow.close()
	fds.end()
	if limit := fds.limit(); fds.peak > limit {
		e.problem(
			"hrmd held %d descriptors under the flood, over %d (%d before, %d connections allowed)",
			fds.peak,
			limit,
			fds.base,
			daemon.MaxHTTPConnections,
		)
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{
		what: fmt.Sprintf("%d files, %d idle connections (%d closed by the daemon), %d slowloris (%d connections made)",
			v.files, e.size.conns, idleClosed, e.size.slowHolders, slowMade),
		v:     v,
		extra: []string{m.String(), fmt.Sprintf("fds %d before, at most %d", fds.base, fds.peak)},
	}, nil
}

// monitor asks what a health monitor asks, each time on a fresh
// connection, and keeps how long /healthz took.
type monitor struct {
	addr    string
	healthz []time.Duration
	others  int // /readyz and /metrics answered
}

func (m *monitor) probe(e *env) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	start := time.Now()
	if err := fetch(client, "http://"+m.addr+"/healthz"); err != nil {
		e.problem("/healthz under the flood: %v", err)
		return
	}
	took := time.Since(start)
	m.healthz = append(m.healthz, took)
	if took > floodHealthLimit {
		e.problem(
			"/healthz under the flood answered in %.2f s, over %.0f s: a monitor would restart a healthy daemon",
			took.Seconds(),
			floodHealthLimit.Seconds(),
		)
	}
	if len(m.healthz)%8 != 0 {
		return
	}
	for _, path := range []string{"/readyz", "/metrics"} {
		if err := fetch(client, "http://"+m.addr+path); err != nil {
			e.problem("%s under the flood: %v", path, err)
			continue
		}
		m.others++
	}
}

// fetch gets url and wants a 200.
func fetch(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func (m *monitor) String() string {
	if len(m.healthz) == 0 {
		return "/healthz never answered on a fresh connection"
	}
	sorted := slices.Clone(m.healthz)
	slices.Sort(sorted)
	return fmt.Sprintf(
		"/healthz on a fresh connection %d times: median %.0f ms, max %.0f ms; /readyz and /metrics %d times",
		len(sorted),
		ms(sorted[len(sorted)/2]),
		ms(sorted[len(sorted)-1]),
		m.others,
	)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
