package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runBindInbox: another folder of the spool's filesystem is bind-mounted
// over the inbox (in the daemon's private mount namespace): the path is a
// real folder on the same device, but a rename out of it into work/
// crosses mounts and fails with EXDEV. While files wait there, /readyz
// must say 503 and hrmd_inbox_unusable 1; once the mount is gone (and the
// files moved back into the inbox, as the admin who mounted it would) they
// must be answered without a restart.
func runBindInbox(e *env) (report, error) {
	dir, ns, s, p, err := e.readyOnTmpfs(64 << 20)
	if err != nil {
		return report{}, err
	}
	defer ns.close()
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(ns.view+other, 0o755); err != nil {
		return report{}, err
	}
	inbox := s.cfg.Inbox
	if err := ns.run("mount", "--bind", other, inbox); err != nil {
		return report{}, err
	}
	mounted := true
	defer func() {
		if mounted {
			ns.run("umount", "-l", inbox)
		}
	}()
	if err := s.burst("bind", e.size.bindFiles); err != nil {
		return report{}, err
	}
	total := s.m.dropped()
	noticed := within(e.size.stuckPatience, 100*time.Millisecond, func() bool {
		unusable, err := p.Metric("hrmd_inbox_unusable")
		code, _, herr := p.Get("/readyz")
		return err == nil && herr == nil && unusable == 1 && code == http.StatusServiceUnavailable
	})
	unusable, _ := p.Metric("hrmd_inbox_unusable")
	code, body, _ := p.Get("/readyz")
	said := fmt.Sprintf("with the mount, /readyz %d, hrmd_inbox_unusable %g", code, unusable)
	if !noticed {
		e.problem(
			"L7: %d files wait in the bind-mounted inbox (claims fail with EXDEV) and %s %q",
			s.waiting(),
			said,
			strings.TrimSpace(body),
		)
	}
	if err := ns.run("umount", "-l", inbox); err != nil {
		return report{}, err
	}
	mounted = false
	unmounted := time.Now()
	// What was dropped went into the mounted folder: the admin moves it back.
	if err := mergeInto(ns.view+other, s.inbox); err != nil {
		return report{}, err
	}
	if err := s.waitFinished(total, 2*time.Minute); err != nil {
		return report{}, err
	}
	took := time.Since(unmounted)
	if err := p.WaitReadyz(200, "ready", time.Minute); err != nil {
		return report{}, err
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	return report{
		what:  fmt.Sprintf("%d files dropped into an inbox bind-mounted over from the same filesystem", v.files),
		v:     v,
		extra: []string{said, "recovered without a restart in " + seconds(took) + " after the umount"},
	}, nil
}

// run runs a command in the namespace (mount, umount).
func (ns *mountNS) run(args ...string) error {
	cmd := exec.Command(ns.nsenter()[0], append(ns.nsenter()[1:], args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s in the mount namespace: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
