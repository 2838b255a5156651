package hrmdtest

import (
	"fmt"
	"time"
)

// poll is how often a wait looks at the state again.
const poll = 20 * time.Millisecond

// Wait polls cond until it holds. cond says, besides, what it saw, and a
// wait that times out says that: "after 1m0s, still waiting for X (last
// seen: Y)". The deadline is generous: it bounds a hung run, it does not
// time the daemon.
func Wait(what string, timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if seen == "" {
				return fmt.Errorf("after %s, still waiting for %s", timeout, what)
			}
			return fmt.Errorf("after %s, still waiting for %s (last seen: %s)", timeout, what, seen)
		}
		time.Sleep(poll)
	}
}

// WaitFor is Wait for a condition with nothing to say of what it saw.
func WaitFor(what string, timeout time.Duration, cond func() bool) error {
	return Wait(what, timeout, func() (bool, string) { return cond(), "" })
}
