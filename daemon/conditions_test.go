package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/hrmd/hrmd/daemon/device"
)

// The conditions, one at a time and together, as /readyz, STATUS= and the
// intake read them: /readyz names the first that makes hrmd not ready (queue
// down, inbox unusable, stuck writes, in that order), degraded keeps it
// ready and says why; STATUS= puts degraded before the counts and stuck
// writes after them; the intake waits while a gate is shut.
func TestConditions(t *testing.T) {
	const counts = "answered 0, failed 0, in progress 0"
	const stuck = "1 files cannot be written to the outbox or failed/ (disk full); they wait in work/ and are tried again"
	d := newClaimsDaemon(t)
	for _, tc := range []struct {
		name            string
		set             func()
		notReady, ready string
		status          string
		intakeWaits     bool
	}{
		{"none", func() {}, "", "ready", counts, false},
		{"degraded", func() { d.degraded.Store(&device.Degradation{Code: device.DegradedGPUFailed, Reason: "on the CPU"}) },
			"", "degraded: on the CPU", "degraded: on the CPU; " + counts, false},
		{"stuck writes", func() { d.stuck.add(&Outcome{Work: "x.json", lastErr: errors.New("disk full")}) },
			stuck, "", "degraded: on the CPU; " + counts + ", 1 waiting to be written", true},
		{"inbox unusable", func() { d.inboxOK.set(false, "the inbox is gone") }, "the inbox is not usable: the inbox is gone",
			"", "degraded: on the CPU; " + counts + ", 1 waiting to be written", true},
		{"inbox back", func() { d.inboxOK.set(true, "") },
			stuck, "", "degraded: on the CPU; " + counts + ", 1 waiting to be written", true},
	} {
		tc.set()
		cs := d.conditions()
		if why, ready := notReady(cs); why != tc.notReady || ready != tc.ready {
			t.Errorf("%s: /readyz 503 %q, 200 %q; want %q, %q", tc.name, why, ready, tc.notReady, tc.ready)
		}
		if got := statusOf(cs, "", counts); got != tc.status {
			t.Errorf("%s: STATUS=%q, want %q", tc.name, got, tc.status)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a shut gate: wait returns at once, false
		if waited := !newIntake(d).wait(ctx, settledFile{name: "y.json"}); waited != tc.intakeWaits {
			t.Errorf("%s: the intake waits %v, want %v", tc.name, waited, tc.intakeWaits)
		}
	}
	if got := statusOf(d.conditions(), "reloading: warming up", counts); got !=
		"degraded: on the CPU; reloading: warming up; "+counts+", 1 waiting to be written" {
		t.Errorf("STATUS= while reloading: %q", got)
	}
}
