package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hrmd/hrmd/daemon/fleet/queue"
)

// queueProbeTimeout is how long the doctor waits for each queue server.
const queueProbeTimeout = 5 * time.Second

// checkQueue connects to each server of queue.servers as the fleet member
// would, with its credentials and TLS: one that cannot be reached, refuses
// the credentials or has no JetStream keeps it from working. A member
// needs one server, so only all of them out of reach is a FAIL.
func (d *doctor) checkQueue() {
	q := d.cfg.Queue
	if q.Role == "" {
		d.skip("queue.role is not set: not a fleet member")
		return
	}
	d.add(
		checkInfo,
		fmt.Sprintf("queue.role %s: a fleet member (docs/fleet.md) on %s", q.Role, strings.Join(q.Servers, ", ")),
		"",
	)
	type probe struct {
		server string
		err    error
	}
	probes := make(chan probe, len(q.Servers))
	for _, s := range q.Servers {
		go func() { probes <- probe{s, queue.ProbeServer(d.cfg, s, queueProbeTimeout)} }()
	}
	results := map[string]error{}
	for range q.Servers {
		p := <-probes
		results[p.server] = p.err
	}
	status := checkFail
	for _, err := range results {
		if err == nil {
			status = checkWarn // the member works on the others
		}
	}
	for _, s := range q.Servers {
		if err := results[s]; err != nil {
			d.add(
				status,
				fmt.Sprintf("%s: %s", s, oneLine(err.Error())),
				"start nats-server there and check it (docs/fleet.md, Check it); check queue.servers, the firewall (hrmd's unit "+
					"allows only this machine: IPAddressAllow= in a drop-in), and queue.credentials, queue.nkey and queue.tls_* "+
					"against the servers' config",
			)
		} else {
			d.add(checkOK, s+": connected, JetStream answers", "")
		}
	}
}
