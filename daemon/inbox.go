package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// inboxHealth is whether files can be claimed from the inbox: a gate the
// watcher and the intake wait on while the inbox path is not the inbox (or
// another daemon holds this instance's lock), and the claims' own state.
// A claim that fails for a reason other than the file being gone (EXDEV
// under a bind mount over the inbox, a permission) does not shut the gate,
// since only further claims can show that claims work again; it makes the
// inbox unusable in /readyz and hrmd_inbox_unusable until one succeeds.
type inboxHealth struct {
	gate  // open while the path is the inbox and the lock is ours
	gauge prometheus.Gauge

	whyMu     sync.Mutex
	why       string // why the gate is shut
	claimFail string // why the last claim failed; "" once one worked
}

func newInboxHealth(gauge prometheus.Gauge) *inboxHealth {
	return &inboxHealth{gate: newGate(true), gauge: gauge}
}

// pathOK is true while the gate is open; true for a nil inboxHealth: a
// watcher without one (tests) takes the inbox as it is.
func (h *inboxHealth) pathOK() bool { return h == nil || h.isOpen() }

// usable is pathOK, and no claim failing.
func (h *inboxHealth) usable() bool {
	if h == nil {
		return true
	}
	h.whyMu.Lock()
	defer h.whyMu.Unlock()
	return h.isOpen() && h.claimFail == ""
}

// set records the state of the path and reports whether it changed.
func (h *inboxHealth) set(ok bool, why string) bool {
	if h == nil {
		return false
	}
	h.whyMu.Lock()
	defer h.whyMu.Unlock()
	h.why = why
	changed := h.gate.set(ok)
	h.showLocked()
	return changed
}

// claimed records how the last claim went (nil: it worked) and reports
// whether that changed the inbox's usability.
func (h *inboxHealth) claimed(err error) bool {
	h.whyMu.Lock()
	defer h.whyMu.Unlock()
	was := h.claimFail
	h.claimFail = ""
	if err != nil {
		h.claimFail = err.Error()
	}
	h.showLocked()
	return (was == "") != (h.claimFail == "")
}

func (h *inboxHealth) showLocked() {
	if h.isOpen() && h.claimFail == "" {
		h.gauge.Set(0)
	} else {
		h.gauge.Set(1)
	}
}

func (h *inboxHealth) reason() string {
	h.whyMu.Lock()
	defer h.whyMu.Unlock()
	if !h.isOpen() {
		return h.why
	}
	return "files cannot be claimed from it: " + h.claimFail
}
