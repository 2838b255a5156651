package queue

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// waitConnected waits until the client's Connected says up and, when it is
// down, a reason containing why (in any case).
func waitConnected(t *testing.T, c *Client, up bool, why string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, reason := c.Connected()
		if got == up && strings.Contains(strings.ToLower(reason), strings.ToLower(why)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Connected() still %v %q; want %v and a reason containing %q", got, reason, up, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// userKey is an nkey user's seed file, for queue.nkey, and its public key,
// for a server's authorization.
func userKey(t *testing.T) (seedFile, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	public, err = kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, public
}

func allowUser(public string) string {
	return fmt.Sprintf("max_payload: 8MB\nauthorization { users: [ { nkey: %s } ] }\n", public)
}

// A key revoked while hrmd runs, then restored (issue 22, F1 and F7): the
// client says why it is down (the refused key, not the disconnect's EOF),
// logs the refusals through its logger, keeps trying past the point where
// nats.go would give up (the same authorization error twice from one
// server), and is connected again once the key is back, without a restart.
func TestKeyRevokedThenRestored(t *testing.T) {
	seed, public := userKey(t)
	_, other := userKey(t)
	srv := hrmdtest.StartNATS(t, allowUser(public))
	core, logs := observer.New(zap.WarnLevel)
	cfg := testConfig(srv.URL)
	cfg.NKey = seed
	c, err := Connect(cfg, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Ready(ctx, time.Second); err != nil {
		t.Fatal(err)
	}

	srv.Reload(allowUser(other)) // the key is revoked
	waitConnected(t, c, false, nats.ErrAuthorization.Error())
	// Three refusals on record at the server: nats.go would have closed the
	// connection for good at the second.
	deadline := time.Now().Add(2 * time.Minute)
	for refusals(t, srv) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the server refused the revoked key %d times in 2 min; want 3", refusals(t, srv))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := logs.FilterField(zap.Error(nats.ErrAuthorization)).Len(); n == 0 {
		t.Errorf("no log entry carries the refusal (error %q): nats.go's own report went elsewhere", nats.ErrAuthorization)
	}

	srv.Reload(allowUser(public)) // and restored
	waitConnected(t, c, true, "")
	select {
	case <-c.Lost():
		t.Fatal("Lost() is closed: the connection was given up")
	default:
	}
}

// refusals are the connections the server closed for a refused key.
func refusals(t *testing.T, srv *hrmdtest.NATS) int {
	t.Helper()
	var connz struct {
		Connections []struct {
			Reason string `json:"reason"`
		} `json:"connections"`
	}
	if err := srv.Monitor("/connz?state=closed&limit=1000", &connz); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range connz.Connections {
		if strings.Contains(c.Reason, "Authentication") || strings.Contains(c.Reason, "Authorization") {
			n++
		}
	}
	return n
}

// A hung server (SIGSTOP: nothing resets the connection) is noticed by the
// client's pings (issue 22, F2): it says the connection went stale, and
// connects again once the server runs again.
func TestHungServerNoticed(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	cfg := testConfig(srv.URL)
	cfg.PingInterval = time.Second
	c := connect(t, cfg)
	srv.Signal(syscall.SIGSTOP)
	waitConnected(t, c, false, nats.ErrStaleConnection.Error())
	srv.Signal(syscall.SIGCONT)
	waitConnected(t, c, true, "")
}

// A server without JetStream is a misconfiguration, not an outage (issue
// 22, F8): Ready refuses it, naming what to change, instead of waiting for
// ever.
func TestNoJetStreamRefused(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\njetstream: disabled\n")
	c, err := Connect(testConfig(srv.URL), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = c.Ready(ctx, time.Second)
	if !IsRefused(err) || !strings.Contains(err.Error(), "jetstream { store_dir") {
		t.Fatalf("Ready on a server without JetStream: %v; want a refusal saying to give it a jetstream block", err)
	}
}

// When nats.go closes the connection for good (here a server's -ERR it
// knows no recovery from), the client says so on Lost, for the daemon to
// stop and be restarted, Connected gives the server's error, and Ready
// (the daemon's start) does not wait for ever.
func TestClosedForGoodIsLost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go fakeServer(l, "-ERR 'Unknown Failure'\r\n")
	cfg := testConfig("nats://" + l.Addr().String())
	c, err := Connect(cfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Lost():
	case <-time.After(time.Minute):
		t.Fatal("Lost() not closed a minute after the server's fatal error")
	}
	if up, why := c.Connected(); up || !strings.Contains(strings.ToLower(why), "unknown failure") {
		t.Errorf("Connected() = %v %q; want down, saying the server's error", up, why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Ready(ctx, time.Second); err == nil || ctx.Err() != nil ||
		!strings.Contains(err.Error(), "closed for good") {
		t.Errorf("Ready on a connection closed for good: %v; want at once an error saying so", err)
	}
}

// fakeServer speaks just enough of NATS's protocol to one client to
// connect it, then sends last.
func fakeServer(l net.Listener, last string) {
	conn, err := l.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(
		conn,
		"INFO {\"server_id\":\"fake\",\"version\":\"2.10.0\",\"proto\":1,\"max_payload\":1048576,\"headers\":true}\r\n",
	)
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, "PING") {
			fmt.Fprint(conn, "PONG\r\n")
			break
		}
	}
	fmt.Fprint(conn, last)
	_, _ = io.Copy(io.Discard, r) // until the client hangs up
}

// A certificate refused after a restart of the server: its CA changed, so
// it refuses hrmd's client certificate, or its certificate changed to one
// hrmd's CA does not vouch for. /readyz's reason is the TLS refusal of the
// attempts since (the second nats.go passes to no handler), not the
// disconnect's EOF (issue 22, F7).
func TestRefusedCertificateIsTheReason(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCA(t, dir, "ca")
	other, otherKey := writeCA(t, dir, "other-ca")
	serverCert, serverKey := writeLeaf(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth)
	strangerCert, strangerKey := writeLeaf(t, dir, "stranger", other, otherKey, x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := writeLeaf(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth)
	tlsConf := func(cert, key, clientCA string) string {
		return fmt.Sprintf(
			"max_payload: 8MB\ntls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }\n",
			cert,
			key,
			clientCA,
		)
	}
	for _, tt := range []struct {
		name, after, why string
	}{
		{"client certificate " +
			"refused", tlsConf(serverCert, serverKey, filepath.Join(dir, "other-ca.pem")), "tls: certificate required"},
		{"server certificate untrusted", tlsConf(strangerCert, strangerKey, filepath.Join(dir, "ca.pem")), "certificate " +
			"signed by unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := hrmdtest.StartNATS(t, tlsConf(serverCert, serverKey, filepath.Join(dir, "ca.pem")))
			cfg := testConfig(strings.Replace(srv.URL, "nats://", "tls://", 1))
			cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "ca.pem"), clientCert, clientKey
			c := connect(t, cfg)
			srv.Kill()
			srv.Configure(tt.after)
			srv.Start()
			waitConnected(t, c, false, tt.why)
		})
	}
}

// writeCA writes a self-signed CA's certificate to dir/name.pem.
func writeCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writeLeaf writes a certificate for 127.0.0.1 signed by ca, and its key:
// dir/name.pem and dir/name-key.pem.
func writeLeaf(
	t *testing.T,
	dir, name string,
	ca *x509.Certificate,
	caKey *ecdsa.PrivateKey,
	usage x509.ExtKeyUsage,
) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter: time.Now().
			Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
