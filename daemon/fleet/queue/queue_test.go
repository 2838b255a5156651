package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// natsServer starts a real nats-server with JetStream and returns its URL.
func natsServer(t *testing.T, conf string) string {
	t.Helper()
	return hrmdtest.StartNATS(t, conf).URL
}

func testConfig(url string) Config {
	return Config{
		Servers:         []string{url},
		Name:            "gw1",
		Subject:         "hrmd",
		Stream:          "HRMD_PUZZLES",
		AnswersStream:   "HRMD_ANSWERS",
		Replicas:        1,
		AckWait:         30 * time.Second,
		MaxAckPending:   16,
		DuplicateWindow: time.Minute,
		AnswersMaxAge:   time.Hour,
		MaxPuzzleBytes:  1 << 20,
	}
}

func connect(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Connect(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Ready(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// A server whose max_payload cannot carry the largest puzzle is refused
// at start, naming the setting.
func TestMaxPayloadRefused(t *testing.T) {
	url := natsServer(t, "max_payload: 1MB\n")
	c, err := Connect(testConfig(url), zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.Ready(ctx, time.Second)
	if !IsRefused(err) || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("Ready with max_payload 1MB and 1 MiB puzzles: %v, want a refusal naming max_payload", err)
	}
}

// hrmd creates both streams as documented; a stream that would lose work
// is refused, each for its own reason.
func TestStreams(t *testing.T) {
	url := natsServer(t, "max_payload: 8MB\n")
	c := connect(t, testConfig(url))
	ctx := context.Background()
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatalf("streams hrmd created are refused on the next start: %v", err)
	}
	s, err := c.js.Stream(ctx, "HRMD_PUZZLES")
	if err != nil {
		t.Fatal(err)
	}
	got := s.CachedInfo().Config
	if got.Retention != jetstream.WorkQueuePolicy || got.Discard != jetstream.DiscardNew || got.MaxAge != 0 ||
		got.MaxMsgSize < 1<<20 {
		t.Errorf("puzzles stream: %+v", got)
	}
	for _, tc := range []struct {
		name   string
		stream jetstream.StreamConfig
		says   string
	}{
		{"limits retention", jetstream.StreamConfig{Retention: jetstream.LimitsPolicy}, "retention is Limits"},
		{"max age", jetstream.StreamConfig{Retention: jetstream.WorkQueuePolicy, MaxAge: time.Hour}, "max age"},
		{"discard old when full", jetstream.StreamConfig{Retention: jetstream.WorkQueuePolicy, MaxMsgs: 100}, "discard old"},
		{"small messages", jetstream.StreamConfig{Retention: jetstream.WorkQueuePolicy, MaxMsgSize: 1000}, "max message " +
			"size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(url)
			cfg.Stream, cfg.AnswersStream, cfg.Subject = "P_"+strings.ReplaceAll(
				tc.name,
				" ",
				"_",
			), "A_"+strings.ReplaceAll(
				tc.name,
				" ",
				"_",
			), "t"+fmt.Sprint(
				len(tc.name),
			)
			c := connect(t, cfg)
			tc.stream.Name, tc.stream.Subjects = cfg.Stream, []string{cfg.Subject + ".puzzles.>"}
			if _, err := c.js.CreateStream(ctx, tc.stream); err != nil {
				t.Fatal(err)
			}
			err := c.EnsureStreams(ctx)
			if !IsRefused(err) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("EnsureStreams over a stream with %s: %v, want a refusal saying %q", tc.name, err, tc.says)
			}
		})
	}
	t.Run("answers not kept", func(t *testing.T) {
		cfg := testConfig(url)
		cfg.Stream, cfg.AnswersStream, cfg.Subject = "P_interest", "A_interest", "interest"
		c := connect(t, cfg)
		interest := jetstream.StreamConfig{Name: cfg.AnswersStream, Subjects: []string{"interest.answers.>"},
			Retention: jetstream.InterestPolicy}
		if _, err := c.js.CreateStream(ctx, interest); err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureStreams(ctx); !IsRefused(err) || !strings.Contains(err.Error(), "retention is Interest") {
			t.Fatalf("an interest-retention answers stream: %v, want refused", err)
		}
	})
	t.Run("fewer replicas than configured", func(t *testing.T) {
		cfg := testConfig(url)
		cfg.Replicas = 3 // of a cluster; the streams made above have 1
		if err := connect(t, cfg).EnsureStreams(ctx); !IsRefused(err) ||
			!strings.Contains(err.Error(), "queue.replicas is 3") {
			t.Fatalf("an R1 stream with queue.replicas 3: %v, want refused", err)
		}
	})
}
