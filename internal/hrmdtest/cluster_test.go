package hrmdtest_test

import (
	"os"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// keptDir is a folder for the test that stays when it fails, with the
// servers' configs and logs in it for a look.
func keptDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hrmd-nats-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the servers' configs, stores and logs are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// TestNATSCluster: the three servers of a cluster (the torture suite's fleet
// scenario starts one) form one
// JetStream cluster; when its meta leader is killed with SIGKILL the other
// two elect another and stay healthy, and the killed one, started again on
// its store, rejoins as a current peer.
func TestNATSCluster(t *testing.T) {
	bin := hrmdtest.NATSServerBinary(t)
	c, err := hrmdtest.StartNATSCluster(bin, keptDir(t), 3)
	if c != nil {
		t.Cleanup(c.Kill)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.WaitHealthy(time.Minute); err != nil {
		t.Fatal(err)
	}
	leader, err := c.WaitMeta(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster healthy, meta leader %s, after %.2f s", leader, time.Since(start).Seconds())

	killed := c.Server(leader)
	if err := killed.Kill9(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	next, err := c.WaitMeta(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatalf("the meta leader is still %s, killed with SIGKILL", leader)
	}
	if err := c.WaitHealthy(time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s killed: %s leads after %.2f s, the two left healthy", leader, next, time.Since(start).Seconds())

	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := c.WaitHealthy(time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitMeta(time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted: healthy and a current peer again after %.2f s", leader, time.Since(start).Seconds())
}
