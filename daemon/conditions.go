package daemon

import (
	"fmt"
	"strings"
)

// A condition is one named state that holds the daemon's work back or
// marks it. The intake (whether to claim), /readyz (why not ready, or
// degraded) and STATUS= read the one list, daemon.conditions, in its order,
// each what concerns it, instead of each its own flags.
type condition struct {
	name string // too_hot, queue_down, inbox_unusable, stuck_writes, memory_budget, degraded
	// gate is shut while the intake must claim nothing: a settled file
	// waits in the inbox, and the intake's debug line says waits. nil: the
	// intake does not wait for it.
	gate  *gate
	waits string
	// holds reports whether /readyz and STATUS= say it now, and what:
	// notReady is /readyz's 503 (a condition with serving set keeps /readyz
	// at 200 and says it in place of "ready"); status is STATUS='s words,
	// before the counts (before set) or after them; "" says nothing.
	holds    func() bool
	notReady func() string
	serving  bool
	status   func() string
	before   bool
}

// on reports whether the condition holds for /readyz and STATUS=.
func (c condition) on() bool { return c.holds != nil && c.holds() }

// conditions are the daemon's, in the order /readyz gives the first that holds.
func (d *daemon) conditions() []condition {
	var cs []condition
	if d.thermal != nil { // a daemon serving has one
		cs = append(cs, condition{name: "too_hot", gate: &d.thermal.open, waits: "too hot"})
	}
	cs = append(cs,
		condition{name: "queue_down", holds: func() bool { return d.queueDown() != "" }, notReady: d.queueDown},
		condition{name: "inbox_unusable", gate: &d.inboxOK.gate, waits: "the inbox is not usable",
			holds: func() bool { return !d.inboxOK.usable() }, notReady: d.inboxUnusable},
		condition{name: "stuck_writes", gate: &d.stuck.open, waits: "answers wait to be written",
			holds: func() bool { return d.stuck.len() > 0 }, notReady: d.stuckWrites, status: d.stuckStatus},
		condition{name: "memory_budget", gate: &d.budget.open, waits: "the task files in memory reach their budget"},
		condition{name: "degraded", holds: func() bool { return d.degraded.Load() != nil }, notReady: d.degradedText,
			serving: true, status: d.degradedText, before: true},
	)
	return cs
}

// queueDown is why a fleet member is not connected to any server; "" when
// it is, or is not in a fleet.
func (d *daemon) queueDown() string {
	if !d.joined.Load() {
		return ""
	}
	if why := d.opts.Fleet.Down(); why != "" {
		return "queue: " + why
	}
	return ""
}

func (d *daemon) inboxUnusable() string { return "the inbox is not usable: " + d.inboxOK.reason() }

func (d *daemon) stuckWrites() string {
	return fmt.Sprintf("%d files cannot be written to the outbox or failed/ (%v); they wait in work/ and are tried again",
		d.stuck.len(), d.stuck.lastError())
}

func (d *daemon) stuckStatus() string { return fmt.Sprintf("%d waiting to be written", d.stuck.len()) }

func (d *daemon) degradedText() string {
	if deg := d.degraded.Load(); deg != nil {
		return "degraded: " + deg.Reason
	}
	return ""
}

// notReady is /readyz's 503 text from the first condition that makes hrmd
// not ready, and the 200 text otherwise: "ready", or what a condition that
// leaves it serving says (degraded).
func notReady(cs []condition) (why string, ready string) {
	ready = "ready"
	for _, c := range cs {
		if !c.on() {
			continue
		}
		if !c.serving {
			return c.notReady(), ""
		}
		if ready == "ready" {
			ready = c.notReady()
		}
	}
	return "", ready
}

// statusOf is STATUS= while serving: the conditions' words around counts,
// with mid (a reload's stage) just before the counts.
func statusOf(cs []condition, mid, counts string) string {
	var before, after []string
	for _, c := range cs {
		if c.status == nil || !c.on() {
			continue
		}
		if c.before {
			before = append(before, c.status())
		} else {
			after = append(after, c.status())
		}
	}
	if mid != "" {
		before = append(before, mid)
	}
	return strings.Join(append(before, counts), "; ") + strings.Join(append([]string{""}, after...), ", ")
}
