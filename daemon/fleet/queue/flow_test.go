package queue

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A puzzle goes from a gateway to a worker and its answer back, each
// message stored once however often it is published; where the gateway
// finds it follows it along.
func TestPuzzleAndAnswer(t *testing.T) {
	url := natsServer(t, "max_payload: 8MB\n")
	gw := connect(t, testConfig(url))
	ctx := context.Background()
	if err := gw.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	wcfg := testConfig(url)
	wcfg.Name = "worker1"
	wk := connect(t, wcfg)
	work, err := wk.Work(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answers, err := gw.Answers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := Puzzle{
		ID:        "abc123",
		Gateway:   "gw1",
		Name:      "odd name \xff%.json",
		Job:       "odd name \xff%.1.json",
		DroppedAs: "odd name \xff%",
		Data:      []byte(`{"train":[],"test":[]}`),
	}
	for i, wantDup := range []bool{false, true} {
		dup, err := gw.PublishPuzzle(ctx, p)
		if err != nil || dup != wantDup {
			t.Fatalf("publish %d: duplicate %v, %v; want duplicate %v", i+1, dup, err, wantDup)
		}
	}
	if where, _, err := gw.Locate(ctx, p.ID); where != Waiting || err != nil {
		t.Fatalf("a published puzzle is %v, %v; want Waiting", where, err)
	}
	got, err := work.Fetch(ctx, 4, 5*time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("worker fetched %d puzzles, %v; want the one (published twice)", len(got), err)
	}
	dv := got[0]
	if dv.Puzzle.ID != p.ID || dv.Name != p.Name || dv.Job != p.Job || dv.DroppedAs != p.DroppedAs ||
		string(dv.Data) != string(p.Data) ||
		dv.Attempt != 1 {
		t.Fatalf("delivered %+v, want %+v at attempt 1", dv, p)
	}
	a := Answer{
		ID:       dv.Puzzle.ID,
		Gateway:  dv.Gateway,
		Job:      dv.Job,
		Name:     dv.Name,
		Body:     []byte(`{"task":"x"}`),
		Worker:   "worker1",
		Provider: "cpu",
		Attempt:  dv.Attempt,
	}
	for i, wantDup := range []bool{false, true} {
		if dup, err := wk.PublishAnswer(ctx, a); err != nil || dup != wantDup {
			t.Fatalf("answer %d: duplicate %v, %v; want %v", i+1, dup, err, wantDup)
		}
	}
	if err := dv.Done(ctx); err != nil {
		t.Fatal(err)
	}
	where, found, err := gw.Locate(ctx, p.ID)
	if where != Answered || err != nil || found.Job != p.Job || found.Worker != "worker1" {
		t.Fatalf("an answered puzzle is %v (%+v), %v; want Answered with its answer", where, found, err)
	}
	recv, err := answers.Fetch(ctx, 4, 5*time.Second)
	if err != nil || len(recv) != 1 || recv[0].Job != p.Job || recv[0].Name != p.Name ||
		string(recv[0].Body) != string(a.Body) ||
		recv[0].Failed {
		t.Fatalf("gateway received %+v, %v; want the one answer", recv, err)
	}
	if err := recv[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if where, _, _ := gw.Locate(ctx, "never"); where != Lost {
		t.Errorf("a puzzle never published is %v, want Lost", where)
	}
}

// A puzzle whose worker stops answering comes again, to whichever worker
// fetches next, counted as a second attempt; one the worker says it is
// still on does not.
func TestRedelivery(t *testing.T) {
	url := natsServer(t, "max_payload: 8MB\n")
	cfg := testConfig(url)
	cfg.AckWait = time.Second
	c := connect(t, cfg)
	ctx := context.Background()
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	work, err := c.Work(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"held", "dropped"} {
		if _, err := c.PublishPuzzle(ctx, Puzzle{ID: id, Gateway: "gw1", Name: id, Job: id, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := work.Fetch(ctx, 2, 5*time.Second)
	if err != nil || len(first) != 2 {
		t.Fatalf("fetched %d, %v", len(first), err)
	}
	var held *Delivery
	for _, dv := range first {
		if dv.Puzzle.ID == "held" {
			held = dv
		}
	}
	// Say "in progress" for the held one across three ack waits.
	var again []*Delivery
	for range 6 {
		if err := held.InProgress(); err != nil {
			t.Fatal(err)
		}
		got, err := work.Fetch(ctx, 2, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, got...)
	}
	if len(again) == 0 || again[0].Puzzle.ID != "dropped" || again[0].Attempt != 2 {
		t.Fatalf("redelivered %+v; want the puzzle nobody held, at attempt 2", again)
	}
	for _, dv := range again {
		if dv.Puzzle.ID != "dropped" {
			t.Fatalf("the puzzle said to be in progress was delivered again (attempt %d)", dv.Attempt)
		}
	}
}

// A message on the puzzles subject that hrmd did not publish cannot be
// answered: it is removed, not handed to the model or redelivered forever.
func TestForeignMessageRemoved(t *testing.T) {
	url := natsServer(t, "max_payload: 8MB\n")
	c := connect(t, testConfig(url))
	ctx := context.Background()
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	work, err := c.Work(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: "hrmd.puzzles.x", Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	got, err := work.Fetch(ctx, 1, 2*time.Second)
	if err != nil || len(got) != 0 {
		t.Fatalf("fetched %+v, %v; want nothing", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.Depth(ctx)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the foreign message is still in the stream (%d messages, %v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
