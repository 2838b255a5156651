package systemd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// The NATS cluster of fleet mode (docs/fleet.md) is nats-server's, configured
// by systemd/nats-server.conf and run by systemd/nats-server.service. These
// tests check both with the real programs.

const (
	natsConf    = "nats-server.conf"
	natsUnit    = "nats-server.service"
	natsUnitBin = "/usr/sbin/nats-server" // the unit's ExecStart
)

// natsNodes fills systemd/nats-server.conf's placeholders for three nodes on
// 127.0.0.1, free ports and stores in dir: the file a user edits, with the
// lines the header says to change changed, and nothing else. The servers
// run on those files as they are.
func natsNodes(t *testing.T, bin, dir string) []*hrmdtest.NATSServer {
	t.Helper()
	data, err := os.ReadFile(natsConf)
	if err != nil {
		t.Fatal(err)
	}
	template := string(data)
	ports, err := hrmdtest.FreePorts(9)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*hrmdtest.NATSServer, 3)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		nodes[i] = &hrmdtest.NATSServer{Bin: bin, Name: name, Dir: filepath.Join(dir, name), Written: true,
			Config: filepath.Join(dir, name+".conf"), LogPath: filepath.Join(dir, name+".log"),
			ClientPort: ports[3*i], HTTPPort: ports[3*i+1], RoutePort: ports[3*i+2]}
	}
	for _, n := range nodes {
		conf := template
		replace := func(old, new string) {
			t.Helper()
			if c := strings.Count(conf, old); c != 1 {
				t.Fatalf("%s holds %q %d times, not once: the test fills that placeholder in", natsConf, old, c)
			}
			conf = strings.Replace(conf, old, new, 1)
		}
		replace("\nserver_name: nats-1\n", "\nserver_name: "+n.Name+"\n")
		replace("\nlisten: 0.0.0.0:4222\n", fmt.Sprintf("\nlisten: 127.0.0.1:%d\n", n.ClientPort))
		replace("\nhttp: 127.0.0.1:8222\n", fmt.Sprintf("\nhttp: 127.0.0.1:%d\n", n.HTTPPort))
		replace("store_dir: /var/lib/nats\n", "store_dir: "+strconv.Quote(n.Dir)+"\n")
		replace("  listen: 0.0.0.0:6222\n", fmt.Sprintf("  listen: 127.0.0.1:%d\n", n.RoutePort))
		for j, peer := range nodes {
			replace(fmt.Sprintf("nats-route://nats-%d:6222\n", j+1), fmt.Sprintf("nats-route://127.0.0.1:%d\n", peer.RoutePort))
		}
		if err := os.WriteFile(n.Config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// The config is one nats-server accepts (`nats-server -t`, which refuses an
// unknown key or a bad value), and three nodes started from it form a
// JetStream cluster with hrmd's max_payload; one stopped as the unit stops it
// (SIGUSR2, lame duck mode) exits 0 within the unit's TimeoutStopSec, and the
// other two keep a leader.
func TestNATSServerConfigForms3NodeCluster(t *testing.T) {
	bin := hrmdtest.NATSServerBinary(t)
	dir := t.TempDir()
	nodes := natsNodes(t, bin, dir)
	for _, n := range nodes {
		out, err := exec.Command(bin, "-c", n.Config, "-t").CombinedOutput()
		if err != nil {
			t.Fatalf("nats-server -c %s -t: %v\n%s", n.Config, err, out)
		}
	}

	cluster := &hrmdtest.NATSCluster{Servers: nodes}
	t.Cleanup(func() {
		cluster.Kill()
		if t.Failed() {
			for _, n := range nodes {
				log, _ := os.ReadFile(n.LogPath)
				t.Logf("%s's log:\n%s", n.Name, log)
			}
		}
	})
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	var varz struct {
		ServerName string `json:"server_name"`
		MaxPayload int64  `json:"max_payload"`
	}
	getJSON(t, nodes[0], "/varz", &varz)
	// hrmd's input limit, watch.max_file_bytes, with its 64 KiB for headers.
	if need := int64(4<<20 + 64<<10); varz.MaxPayload < need || varz.ServerName != "n1" {
		t.Errorf(
			"/varz: server_name %q, max_payload %d; want n1 and at least %d (a 4 MiB task file and its headers)",
			varz.ServerName,
			varz.MaxPayload,
			need,
		)
	}
	jsz := metaCluster(t, nodes[0])
	if jsz.Config.StoreDir != filepath.Join(nodes[0].Dir, "jetstream") || jsz.Meta.ClusterSize != 3 ||
		jsz.Meta.Leader == "" {
		t.Fatalf("/jsz: store %q, meta cluster of %d, leader %q; want a cluster of 3 with a leader, storing in %s",
			jsz.Config.StoreDir, jsz.Meta.ClusterSize, jsz.Meta.Leader, nodes[0].Dir)
	}

	// Stop n1 as the unit does, and wait for it as systemd would.
	stop := unitStopTimeout(t)
	if err := nodes[0].Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	state, err := nodes[0].WaitExit(stop)
	if err != nil {
		t.Fatalf("after SIGUSR2: %v: the unit's TimeoutStopSec would kill it", err)
	}
	if !state.Success() {
		t.Fatalf("n1 in lame duck mode (SIGUSR2) exited with %v; want 0", state)
	}
	if err := hrmdtest.Wait("n1 stopped: the meta leader n2 or n3", 20*time.Second, func() (bool, string) {
		m := metaCluster(t, nodes[1])
		return m.Meta.Leader == "n2" || m.Meta.Leader == "n3", "leader " + m.Meta.Leader
	}); err != nil {
		t.Fatal(err)
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

func metaCluster(t *testing.T, n *hrmdtest.NATSServer) jszInfo {
	t.Helper()
	var j jszInfo
	getJSON(t, n, "/jsz", &j)
	return j
}

func getJSON(t *testing.T, n *hrmdtest.NATSServer, path string, v any) {
	t.Helper()
	code, err := n.Monitor(path, v)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d, %v", path, code, err)
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
