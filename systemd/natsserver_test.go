package systemd_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The NATS cluster of fleet mode (docs/fleet.md) is nats-server's, configured
// by systemd/nats-server.conf and run by systemd/nats-server.service. These
// tests check both with the real programs.

const (
	natsConf    = "nats-server.conf"
	natsUnit    = "nats-server.service"
	natsUnitBin = "/usr/sbin/nats-server" // the unit's ExecStart
)

// needNATSServer is the nats-server binary named by HRMD_NATS_SERVER
// (`./build.sh deps` installs one at .cache/bin/nats-server). Without it the
// tests skip, unless HRMD_REQUIRE_JETSON_TESTS says they must run.
func needNATSServer(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HRMD_NATS_SERVER")
	if bin == "" {
		if os.Getenv("HRMD_REQUIRE_JETSON_TESTS") != "" {
			t.Fatal(
				"HRMD_NATS_SERVER is not set, and HRMD_REQUIRE_JETSON_TESTS requires this test: set it to a nats-server binary " +
					"(./build.sh deps installs one at .cache/bin/nats-server)",
			)
		}
		t.Skip("HRMD_NATS_SERVER is not set (a nats-server binary; ./build.sh deps installs one at .cache/bin/nats-server)")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("HRMD_NATS_SERVER: %v", err)
	}
	return abs
}

// natsNode is one node of a three-node cluster on 127.0.0.1.
type natsNode struct {
	name                 string
	client, http, route  int
	config, store, logFn string
}

// natsNodes fills systemd/nats-server.conf's placeholders for three nodes on
// 127.0.0.1, free ports and stores in dir: the file a user edits, with the
// lines the header says to change changed, and nothing else.
func natsNodes(t *testing.T, dir string) []natsNode {
	t.Helper()
	data, err := os.ReadFile(natsConf)
	if err != nil {
		t.Fatal(err)
	}
	template := string(data)
	nodes := make([]natsNode, 3)
	for i := range nodes {
		n := &nodes[i]
		n.name = fmt.Sprintf("n%d", i+1)
		n.client, n.http, n.route = freePort(t), freePort(t), freePort(t)
		n.store = filepath.Join(dir, n.name)
		n.config = filepath.Join(dir, n.name+".conf")
		n.logFn = filepath.Join(dir, n.name+".log")
	}
	for i, n := range nodes {
		conf := template
		replace := func(old, new string) {
			t.Helper()
			if c := strings.Count(conf, old); c != 1 {
				t.Fatalf("%s holds %q %d times, not once: the test fills that placeholder in", natsConf, old, c)
			}
			conf = strings.Replace(conf, old, new, 1)
		}
		replace("\nserver_name: nats-1\n", "\nserver_name: "+n.name+"\n")
		replace("\nlisten: 0.0.0.0:4222\n", fmt.Sprintf("\nlisten: 127.0.0.1:%d\n", n.client))
		replace("\nhttp: 127.0.0.1:8222\n", fmt.Sprintf("\nhttp: 127.0.0.1:%d\n", n.http))
		replace("store_dir: /var/lib/nats\n", "store_dir: "+strconv.Quote(n.store)+"\n")
		replace("  listen: 0.0.0.0:6222\n", fmt.Sprintf("  listen: 127.0.0.1:%d\n", n.route))
		for j, peer := range nodes {
			replace(fmt.Sprintf("nats-route://nats-%d:6222\n", j+1), fmt.Sprintf("nats-route://127.0.0.1:%d\n", peer.route))
		}
		if err := os.WriteFile(nodes[i].config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The config is one nats-server accepts (`nats-server -t`, which refuses an
// unknown key or a bad value), and three nodes started from it form a
// JetStream cluster with hrmd's max_payload; one stopped as the unit stops it
// (SIGUSR2, lame duck mode) exits 0 within the unit's TimeoutStopSec, and the
// other two keep a leader.
func TestNATSServerConfigForms3NodeCluster(t *testing.T) {
	bin := needNATSServer(t)
	dir := t.TempDir()
	nodes := natsNodes(t, dir)
	for _, n := range nodes {
		out, err := exec.Command(bin, "-c", n.config, "-t").CombinedOutput()
		if err != nil {
			t.Fatalf("nats-server -c %s -t: %v\n%s", n.config, err, out)
		}
	}

	procs := make([]*exec.Cmd, len(nodes))
	exited := make([]chan error, len(nodes))
	for i, n := range nodes {
		logf, err := os.Create(n.logFn)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config", n.config)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i], exited[i] = cmd, make(chan error, 1)
		go func() { exited[i] <- cmd.Wait(); logf.Close() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited[i]
			if t.Failed() {
				log, _ := os.ReadFile(n.logFn)
				t.Logf("%s's log:\n%s", n.name, log)
			}
		})
	}

	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			code, body := httpGet(n.http, "/healthz")
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /healthz still %d %s after 30 s", n.name, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var varz struct {
		ServerName string `json:"server_name"`
		MaxPayload int64  `json:"max_payload"`
	}
	getJSON(t, nodes[0].http, "/varz", &varz)
	// hrmd's input limit, watch.max_file_bytes, with its 64 KiB for headers.
	if need := int64(4<<20 + 64<<10); varz.MaxPayload < need || varz.ServerName != "n1" {
		t.Errorf(
			"/varz: server_name %q, max_payload %d; want n1 and at least %d (a 4 MiB task file and its headers)",
			varz.ServerName,
			varz.MaxPayload,
			need,
		)
	}
	jsz := metaCluster(t, nodes[0].http)
	if jsz.Config.StoreDir != filepath.Join(nodes[0].store, "jetstream") || jsz.Meta.ClusterSize != 3 ||
		jsz.Meta.Leader == "" {
		t.Fatalf("/jsz: store %q, meta cluster of %d, leader %q; want a cluster of 3 with a leader, storing in %s",
			jsz.Config.StoreDir, jsz.Meta.ClusterSize, jsz.Meta.Leader, nodes[0].store)
	}

	// Stop n1 as the unit does, and wait for it as systemd would.
	stop := unitStopTimeout(t)
	if err := procs[0].Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited[0]:
		exited[0] <- err // for the cleanup
		if err != nil {
			t.Fatalf("n1 in lame duck mode (SIGUSR2) exited with %v; want 0", err)
		}
	case <-time.After(stop):
		t.Fatalf("n1 still runs %s after SIGUSR2: the unit's TimeoutStopSec would kill it", stop)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		m := metaCluster(t, nodes[1].http)
		if m.Meta.Leader == "n2" || m.Meta.Leader == "n3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 stopped: after 20 s the meta leader is %q, not n2 or n3", m.Meta.Leader)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type jszInfo struct {
	Config struct {
		StoreDir string `json:"store_dir"`
	} `json:"config"`
	Meta struct {
		Leader      string `json:"leader"`
		ClusterSize int    `json:"cluster_size"`
	} `json:"meta_cluster"`
}

func metaCluster(t *testing.T, port int) jszInfo {
	t.Helper()
	var j jszInfo
	getJSON(t, port, "/jsz", &j)
	return j
}

func httpGet(port int, path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

func getJSON(t *testing.T, port int, path string, v any) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// unitStopTimeout is the unit's TimeoutStopSec, which must leave lame duck
// mode (the config's grace period and duration) its time.
func unitStopTimeout(t *testing.T) time.Duration {
	t.Helper()
	service := unitService(t, natsUnit)
	v := service["TimeoutStopSec"]
	if len(v) != 1 {
		t.Fatalf("nats-server.service: TimeoutStopSec=%v; want one value", v)
	}
	stop, err := time.ParseDuration(v[0] + "s")
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", v[0], err)
	}
	data, err := os.ReadFile(natsConf)
	if err != nil {
		t.Fatal(err)
	}
	var ldm time.Duration
	for _, key := range []string{"lame_duck_grace_period", "lame_duck_duration"} {
		m := regexp.MustCompile(`(?m)^` + key + `: (\d+s)$`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("%s sets no %s in seconds", natsConf, key)
		}
		d, _ := time.ParseDuration(string(m[1]))
		ldm += d
	}
	if stop <= ldm {
		t.Errorf(
			"TimeoutStopSec=%s is not above lame_duck_grace_period + lame_duck_duration (%s): systemd would kill nats-server "+
				"during its lame duck mode",
			stop,
			ldm,
		)
	}
	return stop
}

// systemd-analyze verify accepts the unit, its sandbox scores as well as
// hrmd's must, and it stops in lame duck mode, keeps JetStream's store in the
// config's store_dir, and reads the config where the docs install it.
func TestNATSServerUnit(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	data, err := os.ReadFile(natsUnit)
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart's program exists: the real one when
	// there is one, else any program.
	bin := os.Getenv("HRMD_NATS_SERVER")
	if bin == "" {
		bin = hrmdBin
	}
	bin, _ = filepath.Abs(bin)
	verifyUnit(t, analyze, "nats-server.service", strings.ReplaceAll(string(data), natsUnitBin, bin))
	if score, out := unitExposure(t, analyze, natsUnit); score > maxExposure {
		t.Errorf("systemd/nats-server.service scores %.1f, above %.1f:\n%s", score, maxExposure, out)
	}

	service := unitService(t, natsUnit)
	conf, err := os.ReadFile(natsConf)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"ExecStart":      natsUnitBin + " --config /etc/nats-server.conf",
		"ExecStop":       "/bin/kill -s USR2 $MAINPID",
		"User":           "nats",
		"StateDirectory": "nats",
		"Restart":        "on-failure",
		"LimitNOFILE":    "65536",
	} {
		if v := service[key]; len(v) == 0 || v[len(v)-1] != want {
			t.Errorf("nats-server.service: %s=%v; want %s", key, v, want)
		}
	}
	if !regexp.MustCompile(`(?m)^  store_dir: /var/lib/nats$`).Match(conf) {
		t.Errorf("%s: store_dir is not /var/lib/nats, the unit's StateDirectory=nats", natsConf)
	}
	unitStopTimeout(t)
}
