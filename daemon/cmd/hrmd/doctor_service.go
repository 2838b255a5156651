package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitSandbox is what an installed hrmd.service (and its drop-ins) says
// about the folders the service may write.
type unitSandbox struct {
	unit           string
	strict         bool     // ProtectSystem=strict: only ReadWritePaths= are writable
	readWritePaths []string // ReadWritePaths=
	privateTmp     bool
	protectHome    bool
	ipAddressDeny  []string // IPAddressDeny=
	ipAddressAllow []string // IPAddressAllow=
}

// readUnitSandbox reads the installed unit below the sysroot, then its
// drop-ins in name order as systemd applies them; ok is false when hrmd is
// not installed as a service there.
func (d *doctor) readUnitSandbox() (sb unitSandbox, ok bool, err error) {
	for _, dir := range []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"} {
		path := filepath.Join(d.sysroot, dir, "hrmd.service")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		sb.unit = path
		dropIns, _ := filepath.Glob(filepath.Join(d.sysroot, "etc/systemd/system/hrmd.service.d/*.conf"))
		slices.Sort(dropIns)
		for _, file := range append([]string{path}, dropIns...) {
			if err := sb.read(file); err != nil {
				return sb, true, err
			}
		}
		return sb, true, nil
	}
	return sb, false, nil
}

// read applies one unit file's [Service] settings over what came before.
func (sb *unitSandbox) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	yes := func(v string) bool { return slices.Contains([]string{"yes", "true", "on", "1"}, v) }
	for _, o := range opts {
		if o.Section != "Service" {
			continue
		}
		v := strings.TrimSpace(o.Value)
		switch o.Name {
		case "ProtectSystem":
			sb.strict = v == "strict"
		case "ReadWritePaths":
			if v == "" { // an empty assignment resets the list
				sb.readWritePaths = nil
			}
			for _, p := range strings.Fields(v) {
				sb.readWritePaths = append(sb.readWritePaths, strings.TrimLeft(p, "-+"))
			}
		case "IPAddressDeny":
			sb.ipAddressDeny = appendList(sb.ipAddressDeny, v)
		case "IPAddressAllow":
			sb.ipAddressAllow = appendList(sb.ipAddressAllow, v)
		case "PrivateTmp":
			sb.privateTmp = yes(v)
		case "ProtectHome":
			sb.protectHome = yes(v) || v == "read-only" || v == "tmpfs"
		}
	}
	return nil
}

// appendList adds a list setting's values; an empty one resets the list, as
// in systemd.
func appendList(list []string, value string) []string {
	if value == "" {
		return nil
	}
	return append(list, strings.Fields(value)...)
}

// checkSandbox checks the folders against the installed unit's sandbox:
// `sudo -u hrmd hrmd doctor` may write where the service, under
// ProtectSystem=strict, may not.
func (d *doctor) checkSandbox() {
	sb, ok, err := d.readUnitSandbox()
	if !ok {
		d.skip("hrmd.service is not installed")
		return
	}
	if err != nil {
		d.add(checkWarn, "cannot read the installed unit: "+oneLine(err.Error()), "")
		return
	}
	below := func(dir, parent string) bool {
		rel, err := filepath.Rel(parent, dir)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	problems := 0
	checked := map[string]bool{} // one check per key
	for _, f := range d.folders() {
		if checked[f.Key] {
			continue
		}
		checked[f.Key] = true
		if f.Key == "spool" {
			f.Dir = d.cfg.Spool // its work/, done/ and failed/ are writable with it, or not at all
		}
		switch {
		case sb.protectHome && below(f.Dir, "/home"):
			d.add(
				checkFail,
				fmt.Sprintf("%s %s is under /home, which %s hides from the service (ProtectHome)", f.Key, f.Dir, sb.unit),
				"move it below /var/lib/hrmd, or override ProtectHome in a drop-in (systemctl edit hrmd)",
			)
		case sb.privateTmp && below(f.Dir, "/tmp"):
			d.add(
				checkWarn,
				fmt.Sprintf(
					"%s %s is under /tmp: the service has a private /tmp (PrivateTmp), so nobody else sees this folder",
					f.Key,
					f.Dir,
				),
				"move it below /var/lib/hrmd",
			)
		case sb.strict && !slices.ContainsFunc(sb.readWritePaths, func(p string) bool { return below(f.Dir, p) }):
			d.add(checkFail, fmt.Sprintf("%s %s is read-only for the service: %s has ProtectSystem=strict and ReadWritePaths=%s",
				f.Key, f.Dir, sb.unit, strings.Join(sb.readWritePaths, " ")),
				"add it in a drop-in: sudo systemctl edit hrmd, then [Service] ReadWritePaths="+f.Dir)
		default:
			continue
		}
		problems++
	}
	if problems == 0 {
		d.add(checkOK, "the folders are writable inside "+sb.unit+"'s sandbox", "")
	}
	d.checkListenSandbox(sb)
}

// checkListenSandbox warns when http.listen takes connections from other
// machines that the unit's IP filter drops: the listener starts, and
// Prometheus elsewhere gets only timeouts.
func (d *doctor) checkListenSandbox(sb unitSandbox) {
	listen := d.cfg.HTTP.Listen
	if listen == "" || isLoopback(listen) {
		return
	}
	denyAll := slices.ContainsFunc(
		sb.ipAddressDeny,
		func(a string) bool { return a == "any" || a == "0.0.0.0/0" || a == "::/0" },
	)
	if !denyAll || slices.ContainsFunc(sb.ipAddressAllow, func(a string) bool { return !isLoopback(a) }) {
		return // no filter, or one that lets some other machines in
	}
	filter := "IPAddressDeny=" + strings.Join(sb.ipAddressDeny, " ")
	if len(sb.ipAddressAllow) > 0 {
		filter += " and IPAddressAllow=" + strings.Join(sb.ipAddressAllow, " ")
	}
	d.add(
		checkWarn,
		fmt.Sprintf("http.listen %s takes connections from other machines, but %s has %s: only this machine reaches /metrics",
			listen, sb.unit, filter),
		"let the scrapers in with a drop-in: sudo systemctl edit hrmd, then [Service] IPAddressAllow=192.0.2.10 (their "+
			"addresses or network); or set http.listen to 127.0.0.1:9464",
	)
}

// isLoopback says whether a listen address (host:port), an address or a
// prefix is this machine only: localhost, 127.0.0.0/8, ::1. A name other
// than localhost, or no host (every interface), is not.
func isLoopback(s string) bool {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if s == "localhost" {
		return true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().Addr().IsLoopback()
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsLoopback()
}
