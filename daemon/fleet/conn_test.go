package fleet_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// A gateway whose connection the NATS client closes for good (a server
// error it knows no recovery from) stops and exits non-zero with
// queue_failed, for systemd to start it again (issue 22, F1), instead of
// running on with /readyz 503 for ever.
func TestFleetConnectionClosedForGoodExits(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	proxy := startNATSProxy(t, strings.TrimPrefix(srv.URL, "nats://"))
	p := fleetSpool(
		t,
		"nats://"+proxy.addr,
		config.RoleGateway,
		"gw",
		func(c *config.Config) { c.Queue.PingInterval = config.Duration(time.Second) },
	).start()
	p.WaitEvent("ready", 1, time.Minute)
	proxy.inject("-ERR 'Unknown Failure'\r\n")
	if code := p.WaitExit(time.Minute); code == 0 {
		t.Fatal("hrmd exited 0 after its connection was closed for good; want non-zero")
	}
	if lines := p.Events("stopped"); len(lines) != 1 {
		t.Errorf("%d stopped lines; want the one of an orderly stop", len(lines))
	}
	if log := p.Log(); !strings.Contains(log, daemon.CodeQueue) {
		t.Errorf("the log does not name %s:\n%s", daemon.CodeQueue, log)
	}
}

// natsProxy passes one client's connection through to a server and can
// slip a line of its own into what the server sends, between two of the
// server's lines.
type natsProxy struct {
	addr  string
	mu    sync.Mutex
	extra []byte
}

func startNATSProxy(t *testing.T, server string) *natsProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &natsProxy{addr: l.Addr().String()}
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", server)
			if err != nil {
				client.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, client); up.Close() }()
			go p.down(up, client)
		}
	}()
	return p
}

// down copies the server's lines to the client, the injected one after
// the first line end that closes a read.
func (p *natsProxy) down(up, client net.Conn) {
	defer client.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
			p.mu.Lock()
			if p.extra != nil && bytes.HasSuffix(buf[:n], []byte("\r\n")) {
				_, _ = client.Write(p.extra)
				p.extra = nil
			}
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (p *natsProxy) inject(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.extra = []byte(line)
}
