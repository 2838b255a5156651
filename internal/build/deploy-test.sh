#!/usr/bin/env bash
# ./build.sh deploy-test: ./build.sh deploy against real sshd's on 127.0.0.1
# to .4, into temporary roots (root).
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The test's state, set as it goes: tmp (its folder), port and sshd_pids (the
# sshd's), key, root (the first deploy's root), ssh_args (deploy's ssh
# options), deploy (the first deploy's command), x64 (its tarball), leftovers
# (/tmp/hrmd-deploy.* before), first_tarball and first_bin (the first
# deploy's tarball and hrmd, as sha256sum gives them).
tmp="" port="" key="" root="" x64="" leftovers="" first_tarball="" first_bin=""
sshd_pids=() ssh_args=() deploy=()

# ./build.sh deploy against a real sshd on 127.0.0.1 (root, key login), into a
# temporary root; a fleet of three more (deploy_test_fleet); then the arm64
# bundle's contents.
cmd_deploy_test() {
  [ "$(id -u)" = 0 ] || die "deploy-test starts sshd and logs in as root over it: run it as root"
  local tool
  for tool in /usr/sbin/sshd ssh ssh-keygen file useradd systemd-tmpfiles aarch64-linux-gnu-gcc unshare; do
    command -v "$tool" >/dev/null ||
      die "deploy-test needs $tool: apt-get install openssh-server openssh-client file passwd systemd gcc-aarch64-linux-gnu util-linux"
  done
  tmp=$(mktemp -d)
  trap 'deploy_test_sshds_stop; rm -rf "$tmp"' EXIT
  deploy_test_setup
  host_state >"$tmp/host.before"
  leftovers=$(ls -d /tmp/hrmd-deploy.* 2>/dev/null || true)
  deploy=(./build.sh deploy root@127.0.0.1 "${ssh_args[@]}" --arch x64 --model engine/models/demo --root "$root")
  x64=dist/$(bundle_name x64).tar.gz
  deploy_test_first
  deploy_test_again
  deploy_test_dry_run
  deploy_test_fleet
  deploy_test_arm64
  deploy_test_arm64_install
  host_state >"$tmp/host.after"
  diff "$tmp/host.before" "$tmp/host.after" >&2 || die "deploying with --root changed this machine outside $root (above)"
  say "deploy over ssh into a temporary root, twice, --dry-run, a roll over three hosts and the arm64 bundle: as expected"
}

# A key, the sshd's, and the first root with the users and groups install.sh needs.
deploy_test_setup() {
  key=$tmp/id_ed25519 root=$tmp/root
  ssh-keygen -q -t ed25519 -N '' -C hrmd-deploy-test -f "$key"
  ssh-keygen -q -t ed25519 -N '' -C hrmd-deploy-test-host -f "$tmp/host_ed25519"
  cp "$key.pub" "$tmp/authorized_keys"
  mkdir -p /run/sshd "$tmp/fleet" # sshd's privilege-separation folder; the fleet's mount point
  deploy_test_sshds
  say "sshd on 127.0.0.1 to 127.0.0.4, port $port (pids ${sshd_pids[*]}), logging in as root with a throwaway key"
  ssh_args=(--port "$port" --identity "$key" --ssh-option StrictHostKeyChecking=no
    --ssh-option UserKnownHostsFile=/dev/null --ssh-option BatchMode=yes --ssh-option LogLevel=ERROR)

  # useradd --root and systemd-tmpfiles --root read users and groups from there.
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/etc.passwd"
  printf 'root:x:0:\nvideo:x:44:\n' >"$tmp/etc.group"
  mkdir -p "$root/etc"
  cp "$tmp/etc.passwd" "$root/etc/passwd"
  cp "$tmp/etc.group" "$root/etc/group"
}

# What install.sh would touch without --root; deploying into $root must leave it as it is.
host_state() {
  local f
  for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /usr/bin/hrmd /etc/hrmd /etc/systemd/system/hrmd.service \
    /usr/lib/tmpfiles.d/hrmd.conf /usr/lib/hrmd /usr/share/hrmd /var/lib/hrmd /var/cache/hrmd; do
    if [ -f "$f" ]; then
      echo "$f $(sha256sum <"$f")"
    elif [ -e "$f" ]; then
      echo "$f $(find "$f" -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)"
    else
      echo "$f absent"
    fi
  done
  ls -d /tmp/hrmd-deploy.* 2>/dev/null || true
}

# The first deploy: every file, the user, its groups and folders in $root.
deploy_test_first() {
  say "deploy-test: ${deploy[*]}"
  "${deploy[@]}" </dev/null || { cat "$tmp/h1.log" >&2; die "the first deploy failed (above; sshd's log last)"; }
  local f
  for f in usr/bin/hrmd etc/systemd/system/hrmd.service usr/lib/tmpfiles.d/hrmd.conf etc/hrmd/hrmd.yaml \
    usr/lib/hrmd/libonnxruntime.so.1 usr/share/hrmd/models/default/hrm.yaml usr/share/hrmd/grafana/hrmd.json; do
    [ -f "$root/$f" ] || die "deploy did not install /$f (in $root)"
  done
  cmp -s "$root/usr/lib/hrmd/libonnxruntime.so.1" "$(ort_lib x64)" || die "/usr/lib/hrmd/libonnxruntime.so.1 is not the x64 onnxruntime"
  diff -r engine/models/demo "$root/usr/share/hrmd/models/default" >&2 || die "the installed model differs from engine/models/demo (above)"
  cmp -s systemd/hrmd.yaml "$root/etc/hrmd/hrmd.yaml" || die "/etc/hrmd/hrmd.yaml is not systemd/hrmd.yaml"
  local uid
  uid=$(awk -F: '$1 == "hrmd" { print $3 }' "$root/etc/passwd")
  [ -n "$uid" ] || die "no user hrmd in $root/etc/passwd"
  grep -q '^video:.*[:,]hrmd' "$root/etc/group" || die "hrmd is not in the video group of $root/etc/group"
  grep -q '^render:.*[:,]hrmd' "$root/etc/group" || die "hrmd is not in the render group of $root/etc/group"
  for f in inbox outbox work "done" failed; do
    [ "$(stat -c %u "$root/var/lib/hrmd/$f" 2>/dev/null)" = "$uid" ] || die "/var/lib/hrmd/$f is missing or not owned by hrmd (uid $uid) in $root"
  done
  [ -d "$root/var/cache/hrmd/trt" ] || die "/var/cache/hrmd/trt is missing in $root"
  # The library is found beside the binary (../lib/hrmd), as on the machine.
  local out
  out=$(env -u HRMD_ORT_LIB "$root/usr/bin/hrmd" version) || die "$root/usr/bin/hrmd version failed"
  grep -q "^onnxruntime .*($root/usr/lib/hrmd/libonnxruntime.so.1)" <<<"$out" ||
    die "hrmd version did not find the installed onnxruntime: $out"
  first_tarball=$(sha256sum <"$x64")
  first_bin=$(sha256sum <"$root/usr/bin/hrmd")
}

# The second deploy keeps an edited config, adds no user again, and the same
# sources give the same tarball.
deploy_test_again() {
  say "deploy-test: again, with an edited /etc/hrmd/hrmd.yaml"
  printf 'inference: {max_batch: 8}\n' >"$root/etc/hrmd/hrmd.yaml"
  "${deploy[@]}" </dev/null || die "the second deploy failed (above)"
  [ "$(cat "$root/etc/hrmd/hrmd.yaml")" = "inference: {max_batch: 8}" ] || die "the second deploy did not keep the edited /etc/hrmd/hrmd.yaml"
  cmp -s systemd/hrmd.yaml "$root/etc/hrmd/hrmd.yaml.new" || die "the second deploy did not put the shipped config beside it as hrmd.yaml.new"
  [ "$(grep -c '^hrmd:' "$root/etc/passwd")" = 1 ] || die "the second deploy added the user hrmd again"
  # Same sources, same tarball (the binary may differ while others edit the tree).
  if [ "$(sha256sum <"$root/usr/bin/hrmd")" = "$first_bin" ] && [ "$(sha256sum <"$x64")" != "$first_tarball" ]; then
    die "the same hrmd gave two different tarballs: the bundle is not reproducible"
  fi
}

# --dry-run logs in nowhere and changes nothing; what it prints, run by bash, deploys.
deploy_test_dry_run() {
  say "deploy-test: --dry-run runs nothing"
  local logins state out
  logins=$(grep -c 'Accepted publickey' "$tmp/h1.log" || true)
  state=$(find "$root" dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)
  out=$("${deploy[@]}" --dry-run </dev/null) || die "deploy --dry-run failed"
  if ! grep -qx "./build.sh bundle --arch x64 --model engine/models/demo" <<<"$out" ||
    ! grep -q "^tmp=\$(ssh -p $port -i $key -o IdentitiesOnly=yes -o StrictHostKeyChecking=no .* root@127.0.0.1 'sh -c " <<<"$out" ||
    ! grep -q "^ssh -n -p $port -i $key .* root@127.0.0.1 'sh -c " <<<"$out"; then
    die "deploy --dry-run did not print the bundle, copy and install commands: $out"
  fi
  [ "$(grep -c 'Accepted publickey' "$tmp/h1.log" || true)" = "$logins" ] || die "deploy --dry-run logged in over ssh"
  [ "$(find "$root" dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)" = "$state" ] || die "deploy --dry-run changed $root or dist/"
  # What it prints is quoted right when running it does the deploy.
  say "deploy-test: the --dry-run's commands, run by bash"
  rm "$root/usr/bin/hrmd"
  bash -euo pipefail -c "$out" </dev/null || die "the commands deploy --dry-run printed failed when run (above): $out"
  [ -x "$root/usr/bin/hrmd" ] || die "the commands deploy --dry-run printed did not install /usr/bin/hrmd"
  [ "$(ls -d /tmp/hrmd-deploy.* 2>/dev/null || true)" = "$leftovers" ] || die "deploy left its temporary folder: $(ls -d /tmp/hrmd-deploy.*)"
}

# The default (arm64) bundle: exactly its files, owned by 0/0, an aarch64
# hrmd, SHA256SUMS that verifies and lists them all, the arm64 onnxruntime.
deploy_test_arm64() {
  say "deploy-test: the default (arm64) bundle"
  ./build.sh bundle
  local name want got
  name=$(bundle_name arm64)
  want=$(printf '%s\n' "$name/" "$name/SHA256SUMS" "$name/bin/" "$name/bin/hrmd" "$name/hrmd.service" "$name/hrmd.tmpfiles" \
    "$name/hrmd.yaml" "$name/grafana-dashboard.json" "$name/install.sh" "$name/lib/" "$name/lib/libonnxruntime.so.1" | LC_ALL=C sort)
  got=$(tar -tzf "dist/$name.tar.gz" | LC_ALL=C sort)
  [ "$got" = "$want" ] || die "dist/$name.tar.gz holds, sorted:
$got
expected:
$want"
  [ "$(tar --numeric-owner -tvzf "dist/$name.tar.gz" | awk '{ print $2 }' | sort -u)" = 0/0 ] || die "dist/$name.tar.gz has files not owned by 0/0"
  mkdir "$tmp/arm64"
  tar -xzf "dist/$name.tar.gz" -C "$tmp/arm64"
  file -b "$tmp/arm64/$name/bin/hrmd" | grep -q 'ARM aarch64' || die "bin/hrmd in the arm64 bundle is $(file -b "$tmp/arm64/$name/bin/hrmd")"
  (cd "$tmp/arm64/$name" && sha256sum -c --quiet SHA256SUMS) || die "the arm64 bundle's SHA256SUMS does not verify (above)"
  [ "$(cut -c67- "$tmp/arm64/$name/SHA256SUMS")" = "$(cd "$tmp/arm64/$name" && find . -type f ! -path ./SHA256SUMS -printf '%P\n' | LC_ALL=C sort)" ] ||
    die "the arm64 bundle's SHA256SUMS does not list exactly its other files"
  cmp -s "$tmp/arm64/$name/lib/libonnxruntime.so.1" "$(ort_lib arm64)" || die "the arm64 bundle's onnxruntime is not the arm64 one"
}

# The arm64 bundle (unpacked in $tmp/arm64 by deploy_test_arm64) installs over
# ssh, and install.sh refuses it damaged.
deploy_test_arm64_install() {
  local name out
  name=$(bundle_name arm64)
  # It installs too (over ssh, into a third root: nothing there can run it).
  local -a deploy_arm64=(./build.sh deploy root@127.0.0.1 "${ssh_args[@]}" --root "$tmp/root3")
  mkdir -p "$tmp/root3/etc" && cp "$root/etc/passwd" "$root/etc/group" "$tmp/root3/etc/"
  "${deploy_arm64[@]}" </dev/null || die "deploying the arm64 bundle into $tmp/root3 failed (above)"
  file -b "$tmp/root3/usr/bin/hrmd" | grep -q 'ARM aarch64' || die "the arm64 deploy installed $(file -b "$tmp/root3/usr/bin/hrmd")"
  cmp -s "$tmp/root3/usr/lib/hrmd/libonnxruntime.so.1" "$(ort_lib arm64)" || die "the arm64 deploy did not install the arm64 onnxruntime"
  # install.sh refuses a damaged bundle before touching anything.
  echo '# changed' >>"$tmp/arm64/$name/hrmd.yaml"
  mkdir -p "$tmp/root2/etc" && cp "$root/etc/passwd" "$root/etc/group" "$tmp/root2/etc/"
  if out=$(sh "$tmp/arm64/$name/install.sh" --root "$tmp/root2" 2>&1); then
    die "install.sh installed from a bundle whose hrmd.yaml does not match SHA256SUMS"
  fi
  grep -q 'do not match its SHA256SUMS' <<<"$out" || die "install.sh failed on a damaged bundle, but not saying so: $out"
  [ "$(find "$tmp/root2" | wc -l)" = 4 ] || die "install.sh touched $tmp/root2 from a damaged bundle"
}

# deploy-test's hosts: sshd's on 127.0.0.1 to .4, one port. h1 is this
# machine; h2, h3 and h4 are each in a mount namespace of its own where
# $tmp/hN is mounted on $tmp/fleet, so that --root $tmp/fleet is a root of
# its own on each, as on machines. Their sessions are logged, begin and end
# with the exit status, in $tmp/order. Sets port and sshd_pids.
deploy_test_sshds() {
  local attempt n up
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000)) up=yes
    for n in 1 2 3 4; do
      deploy_test_sshd "$n" || { up=""; break; }
    done
    [ -z "$up" ] || return 0
    deploy_test_sshds_stop
    [ "$attempt" = 5 ] || say "deploy-test: no sshd on 127.0.0.$n:$port (busy?), another port"
  done
  cat "$tmp/h$n.log" >&2
  die "sshd did not start on 127.0.0.$n:$port (its log above)"
}

# Starts host number $1's sshd; returns 1 when it does not listen.
deploy_test_sshd() {
  local n=$1 conf=$tmp/h$1.sshd_config
  ! (exec 3<>"/dev/tcp/127.0.0.$n/$port") 2>/dev/null || return 1
  cat >"$conf" <<EOC
Port $port
ListenAddress 127.0.0.$n
HostKey $tmp/host_ed25519
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PidFile $tmp/h$n.pid
PrintMotd no
PrintLastLog no
EOC
  if [ "$n" = 1 ]; then
    /usr/sbin/sshd -D -e -f "$conf" 2>"$tmp/h$n.log" &
  else
    echo "ForceCommand echo h$n begin >>$tmp/order; sh -c \"\$SSH_ORIGINAL_COMMAND\"; rc=\$?; echo h$n end \$rc >>$tmp/order; exit \$rc" >>"$conf"
    mkdir -p "$tmp/h$n"
    # shellcheck disable=SC2016 # for that sh
    unshare -m sh -c 'mount --bind "$1" "$2" && exec /usr/sbin/sshd -D -e -f "$3"' sh "$tmp/h$n" "$tmp/fleet" "$conf" 2>"$tmp/h$n.log" &
  fi
  sshd_pids+=("$!")
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.$n/$port") 2>/dev/null && return 0
    kill -0 "$!" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

deploy_test_sshds_stop() {
  local pid
  for pid in "${sshd_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  sshd_pids=()
}

# The sessions in $tmp/order as HOST:STATUS words, one session after another;
# "overlap" where one began before the one before it had ended.
deploy_test_order() {
  awk '$2 == "begin" { if (open != "") print "overlap"; open = $1 }
    $2 == "end" { if ($1 != open) print "overlap"; print $1 ":" $3; open = "" }' "$tmp/order" | paste -sd ' '
}

# Runs a roll ($@) that must succeed over the hosts named in $1 (h2 ...),
# one after the other, each with the bundle's hrmd.
deploy_test_roll() {
  local names=$1 n want=""
  shift
  for n in $names; do want+="$n:0 $n:0 "; done
  : >"$tmp/order"
  "$@" </dev/null 2>"$tmp/roll.log" || { cat "$tmp/roll.log" >&2; die "the roll $* failed (above)"; }
  [ "$(deploy_test_order)" = "${want% }" ] ||
    die "the roll over $names went, as host:status per ssh session: $(deploy_test_order) (expected ${want% }, one host after the other)"
  for n in $names; do
    cmp -s bin/hrmd "$tmp/$n/usr/bin/hrmd" || die "the roll did not install the bundle's hrmd on $n ($tmp/$n/usr/bin/hrmd)"
  done
  [ -z "$(ls -A "$tmp/fleet")" ] || die "the roll installed into $tmp/fleet as this machine sees it, not into each host's own root"
}

# deploy with the arguments $2... must stop before doing anything, saying $1.
deploy_test_refused() {
  local want=$1 out
  shift
  if out=$(./build.sh deploy "$@" 2>&1 </dev/null); then
    die "deploy $* did not refuse: $out"
  fi
  grep -qF -- "$want" <<<"$out" || die "deploy $* refused, but without saying \"$want\": $out"
}

# Several hosts: hosts given wrong, a roll from a hosts file that stops at a
# failing host, its resume command, and a --dry-run plan.
deploy_test_fleet() {
  local h
  for h in h2 h3 h4; do mkdir -p "$tmp/$h/etc" && cp "$tmp/etc.passwd" "$tmp/$h/etc/passwd" && cp "$tmp/etc.group" "$tmp/$h/etc/group"; done
  local -a fleet=(./build.sh deploy "${ssh_args[@]}" --arch x64 --root "$tmp/fleet")
  printf '# deploy-test: three hosts\n\nroot@127.0.0.2   # the first\n\troot@127.0.0.3\nroot@127.0.0.4\n' >"$tmp/fleet.hosts"
  deploy_test_fleet_refusals

  say "deploy-test: a roll over the three hosts of a hosts file, the second failing, stops there"
  rm "$tmp/h3/etc/passwd" # install.sh refuses such a root
  : >"$tmp/order"
  local h4
  h4=$(find "$tmp/h4" -printf '%p %s %T@\n' | LC_ALL=C sort)
  if "${fleet[@]}" --hosts "$tmp/fleet.hosts" </dev/null 2>"$tmp/roll.log"; then
    die "the roll over three hosts succeeded with a second host whose install fails"
  fi
  [ "$(deploy_test_order)" = "h2:0 h2:0 h3:0 h3:1" ] || die "the failing roll went, as host:status per ssh session: $(deploy_test_order) (expected h2:0 h2:0 h3:0 h3:1)"
  cmp -s bin/hrmd "$tmp/h2/usr/bin/hrmd" || die "the failing roll did not install the bundle's hrmd on the first host"
  ! grep -q 'Accepted publickey' "$tmp/h4.log" || die "the failing roll logged in on the third host"
  [ "$(find "$tmp/h4" -printf '%p %s %T@\n' | LC_ALL=C sort)" = "$h4" ] || die "the failing roll changed the third host's root"
  if ! grep -qx 'the roll stopped at root@127.0.0.3, host 2 of 3:' "$tmp/roll.log" ||
    ! grep -qx '  updated:     root@127.0.0.2' "$tmp/roll.log" || ! grep -qx '  not touched: root@127.0.0.4' "$tmp/roll.log"; then
    die "the failing roll did not say where it stopped, what was updated and what was left: $(cat "$tmp/roll.log")"
  fi
  say "deploy-test: it stopped, saying:"
  tail -n 6 "$tmp/roll.log" >&2
  local resume
  resume=$(tail -n 1 "$tmp/roll.log")
  [[ $resume == "  ./build.sh deploy "*" root@127.0.0.3 root@127.0.0.4" ]] || die "the failing roll's last line is not the command that resumes it: $resume"

  say "deploy-test: fixed, the roll resumes with the command it printed: both hosts, one after the other, one bundle"
  cp "$tmp/etc.passwd" "$tmp/h3/etc/passwd"
  deploy_test_roll "h3 h4" bash -c "$resume"
  [ "$(grep -c '^==> bundling' "$tmp/roll.log")" = 1 ] || die "the roll did not build the bundle once: $(cat "$tmp/roll.log")"
  deploy_test_fleet_plan "${fleet[@]}"
}

# Hosts given wrong: deploy stops before it builds or logs in anywhere, and says where.
deploy_test_fleet_refusals() {
  deploy_test_refused "--hosts $tmp/none: no such file" --hosts "$tmp/none"
  printf '# nothing yet\n\n' >"$tmp/empty.hosts"
  deploy_test_refused "--hosts $tmp/empty.hosts names no host" --hosts "$tmp/empty.hosts"
  deploy_test_refused "root@127.0.0.3 is given twice ($tmp/fleet.hosts line 4 and argument 3 after deploy)" \
    --hosts "$tmp/fleet.hosts" root@127.0.0.3
  deploy_test_refused "argument 2 after deploy is an empty HOST" root@127.0.0.2 ""
  printf 'root@127.0.0.2 root@127.0.0.3\n' >"$tmp/one-line.hosts"
  deploy_test_refused "$tmp/one-line.hosts line 1 holds 2 words" --hosts "$tmp/one-line.hosts"
}

# --dry-run over several hosts ($@ is the roll without them) logs in nowhere
# and prints, host after host, commands that do the roll when run.
deploy_test_fleet_plan() {
  say "deploy-test: --dry-run over two hosts logs in nowhere; its plan, run by bash, rolls in the order given"
  local logins state out
  logins=$(cat "$tmp"/h?.log | grep -c 'Accepted publickey' || true)
  state=$(find "$tmp"/h? dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)
  : >"$tmp/order"
  out=$("$@" root@127.0.0.4 root@127.0.0.2 --dry-run </dev/null) || die "deploy --dry-run over two hosts failed"
  if [ "$(cat "$tmp"/h?.log | grep -c 'Accepted publickey' || true)" != "$logins" ] || [ -s "$tmp/order" ]; then
    die "deploy --dry-run over two hosts logged in over ssh"
  fi
  [ "$(find "$tmp"/h? dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)" = "$state" ] || die "deploy --dry-run over two hosts changed a root or dist/"
  # shellcheck disable=SC2016 # sed's $ and the shell's quotes, not expansions
  [ "$(sed -n 's/^tmp=\$(ssh .* \(root@127\.0\.0\.[0-9]\) '\''sh -c .*/\1/p; s/^ssh -n .* \(root@127\.0\.0\.[0-9]\) '\''sh -c .*/\1/p' <<<"$out" | paste -sd ' ')" = \
    "root@127.0.0.4 root@127.0.0.4 root@127.0.0.2 root@127.0.0.2" ] ||
    die "deploy --dry-run over two hosts did not print a copy and an install per host, in the order given: $out"
  rm "$tmp"/h[24]/usr/bin/hrmd
  deploy_test_roll "h4 h2" bash -euo pipefail -c "$out"
}

cmd_deploy_test "$@"
