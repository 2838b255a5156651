# shellcheck shell=bash
# The .deb's test, in the sandbox test's boot (sandbox-test.sh, cmd_sandbox_test):
# once the tarball's hrmd has passed there, it is stopped and its files
# removed, and the amd64 package goes through a machine's life under the same
# throwaway systemd: installed, it answers a task; upgraded, an edited
# /etc/hrmd/hrmd.yaml survives; removed, the configuration stays; purged,
# the configuration and the engine cache go and the spool stays.
# It reads the sandbox test's pid1 (its systemd), r (/proc/$pid1/root), port,
# tmp and sandbox_fail.
# shellcheck disable=SC2154 # pid1, r, port and tmp: the sandbox test's

# Runs a command inside the throwaway systemd's namespaces and root.
sandbox_exec() { nsenter -t "$pid1" -m -p -r -w -- "$@"; }

deb_test() {
  local deb=$1 version
  version=$(dpkg-deb -f "$deb" Version)
  deb_test_unbundle
  cp "$deb" "$r/tmp/hrmd.deb"
  # Installed without starting (policy-rc.d says no, as in an image build):
  # hrmd would listen on the shipped 127.0.0.1:9464, this machine's too.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  sandbox_exec dpkg -i /tmp/hrmd.deb >&2 || sandbox_fail "dpkg -i $deb failed (above)"
  rm "$r/usr/sbin/policy-rc.d"
  [ "$(sandbox_exec systemctl is-enabled hrmd.service)" = enabled ] || sandbox_fail "the postinst did not enable hrmd.service"
  ! sandbox_exec systemctl is-active --quiet hrmd.service || sandbox_fail "the postinst started hrmd although policy-rc.d forbade it"
  [ "$(sandbox_exec id -nG hrmd)" = "hrmd video render" ] ||
    sandbox_fail "the postinst's user hrmd is in $(sandbox_exec id -nG hrmd), not hrmd, video and render"
  sed -i "s|^  listen: 127.0.0.1:9464|  listen: 0.0.0.0:$port|" "$r/etc/hrmd/hrmd.yaml"
  grep -q "listen: 0.0.0.0:$port" "$r/etc/hrmd/hrmd.yaml" || sandbox_fail "the package's hrmd.yaml has no 'listen: 127.0.0.1:9464' line"
  # Type=notify: this returns once hrmd is ready.
  sandbox_exec systemctl start hrmd.service || sandbox_fail "systemctl start hrmd.service failed"
  deb_test_answer
  local pid
  pid=$(deb_test_main_pid)

  # The same package one version up: dpkg upgrades it, and the postinst
  # restarts hrmd.
  dpkg-deb -R "$deb" "$tmp/up"
  sed -i "s/^Version: .*/&+1/" "$tmp/up/DEBIAN/control"
  dpkg-deb -Znone -b "$tmp/up" "$r/tmp/hrmd-up.deb" >/dev/null
  rm -rf "$tmp/up"
  sandbox_exec dpkg -i /tmp/hrmd-up.deb >&2 || sandbox_fail "the upgrade to $version+1 failed (above)"
  [ "$(deb_test_status)" = "install ok installed $version+1" ] || sandbox_fail "after the upgrade dpkg says: $(deb_test_status)"
  grep -q "listen: 0.0.0.0:$port" "$r/etc/hrmd/hrmd.yaml" || sandbox_fail "the upgrade replaced the edited /etc/hrmd/hrmd.yaml"
  [ -z "$(ls "$r"/etc/hrmd/hrmd.yaml.dpkg-* 2>/dev/null)" ] || sandbox_fail "the upgrade left $(ls "$r"/etc/hrmd/hrmd.yaml.dpkg-*)"
  [ "$(deb_test_main_pid)" != "$pid" ] || sandbox_fail "the upgrade did not restart hrmd (MainPID $pid)"
  curl -sf -m 3 -o /dev/null "http://127.0.0.1:$port/readyz" || sandbox_fail "hrmd is not ready after the upgrade's restart"

  sandbox_exec dpkg -r hrmd >&2 || sandbox_fail "dpkg -r hrmd failed (above)"
  [ "$(deb_test_status)" = "deinstall ok config-files $version+1" ] || sandbox_fail "after dpkg -r dpkg says: $(deb_test_status)"
  ! sandbox_exec systemctl is-active --quiet hrmd.service || sandbox_fail "hrmd still runs after dpkg -r"
  [ ! -e "$r/usr/bin/hrmd" ] || sandbox_fail "dpkg -r left /usr/bin/hrmd"
  grep -q "listen: 0.0.0.0:$port" "$r/etc/hrmd/hrmd.yaml" || sandbox_fail "dpkg -r did not keep the edited /etc/hrmd/hrmd.yaml"
  [ -d "$r/var/cache/hrmd/trt" ] || sandbox_fail "dpkg -r removed the engine cache /var/cache/hrmd"

  sandbox_exec dpkg -P hrmd >&2 || sandbox_fail "dpkg -P hrmd failed (above)"
  [ -z "$(deb_test_status)" ] || sandbox_fail "after dpkg -P dpkg says: $(deb_test_status)"
  [ ! -e "$r/etc/hrmd" ] || sandbox_fail "dpkg -P left /etc/hrmd: $(ls -A "$r/etc/hrmd")"
  [ ! -e "$r/var/cache/hrmd" ] || sandbox_fail "dpkg -P left the engine cache /var/cache/hrmd"
  [ ! -e "$r/etc/systemd/system/multi-user.target.wants/hrmd.service" ] || sandbox_fail "dpkg -P left hrmd.service enabled"
  [ -f "$r/var/lib/hrmd/outbox/t.json" ] || sandbox_fail "dpkg -P removed the spool's answers"
  say "sandbox-test: $(basename "$deb") installed (enabled, started, a task answered), upgraded to $version+1 (the edited hrmd.yaml kept, hrmd restarted), removed (hrmd.yaml kept) and purged (hrmd.yaml and the engine cache gone, the spool kept)"
}

# Stops the tarball's hrmd and removes what its install.sh made, so that the
# package installs on a machine that never had hrmd; the log's drop-in stays.
deb_test_unbundle() {
  sandbox_exec systemctl stop hrmd.service || sandbox_fail "systemctl stop hrmd.service failed"
  rm -rf "$r/etc/systemd/system/hrmd.service" "$r/usr/bin/hrmd" "$r/usr/lib/hrmd" "$r/usr/share/hrmd" \
    "$r/usr/lib/tmpfiles.d/hrmd.conf" "$r/etc/hrmd" "$r/var/lib/hrmd" "$r/var/cache/hrmd"
  sandbox_exec userdel hrmd || sandbox_fail "userdel hrmd failed (above)"
  ! sandbox_exec getent group hrmd >/dev/null || sandbox_exec groupdel hrmd || sandbox_fail "groupdel hrmd failed (above)"
  # Where install.sh had to make render, the postinst must make it too.
  grep -q '^render:' /etc/group || sandbox_exec groupdel render || sandbox_fail "groupdel render failed (above)"
  sandbox_exec systemctl daemon-reload || sandbox_fail "systemctl daemon-reload failed (above)"
}

# A task dropped into the inbox is answered.
deb_test_answer() {
  cp testdata/arc/ARC-AGI-1/training/3631a71a.json "$r/var/lib/hrmd/inbox/t.json.tmp"
  mv "$r/var/lib/hrmd/inbox/t.json.tmp" "$r/var/lib/hrmd/inbox/t.json"
  local deadline=$((SECONDS + 60))
  until [ -f "$r/var/lib/hrmd/outbox/t.json" ]; do
    [ ! -f "$r/var/lib/hrmd/failed/t.json" ] || sandbox_fail "the package's hrmd failed the task: $(cat "$r/var/lib/hrmd/failed/t.error.json")"
    [ $SECONDS -lt $deadline ] || sandbox_fail "the package's hrmd wrote no answer to outbox/ within 60 s"
    sleep 0.2
  done
}

deb_test_main_pid() { sandbox_exec systemctl show -P MainPID hrmd.service; }

# shellcheck disable=SC2016 # dpkg-query's fields
deb_test_status() { sandbox_exec dpkg-query -W -f '${Status} ${Version}' hrmd 2>/dev/null || true; }
