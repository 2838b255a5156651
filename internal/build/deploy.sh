#!/usr/bin/env bash
# ./build.sh deploy [USER@]HOST ... [--hosts FILE] [options]: the bundle, rolled
# out over ssh one host at a time (./build.sh help has the options).
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2016 # these run on the target
# Run on the target by `sh -c` with the bundle on stdin: a fresh temporary
# folder holding the unpacked bundle, its path the one line printed.
DEPLOY_UNPACK='t=$(mktemp -d /tmp/hrmd-deploy.XXXXXX) || exit 1
if cat >"$t/$1" && tar -xzf "$t/$1" -C "$t" && rm -f "$t/$1"; then
  echo "$t"
else
  rm -rf "$t"
  exit 1
fi'

# What each target runs, as the text of `sh -c`: internal/build/remote-install.sh
# from its first line that is not a comment.
DEPLOY_INSTALL=$(sed -n '/^[^#]/,$p' internal/build/remote-install.sh)

# Bundle once, then host after host: copy over ssh, install.sh there, and wait
# until hrmd is ready before the next, so a fleet never stops answering. The
# first host that fails stops the roll.
cmd_deploy() {
  local dry="" arch=arm64 model="" port="" identity="" root=""
  local -a opts=() hosts=() where=() again=()
  deploy_args "$@"
  [ "${#hosts[@]}" -gt 0 ] || die "deploy: which machines? ./build.sh deploy [USER@]HOST ... or --hosts FILE (see ./build.sh help)"
  check_bundle_args "$arch" "$model"
  [[ -z $port || $port =~ ^[0-9]+$ ]] || die "--port $port: a port number"
  [ -z "$identity" ] || [ -f "$identity" ] || die "--identity $identity: no such key file"
  [[ -z $root || $root == /* ]] || die "--root $root: an absolute path on the target"

  local -a sshopts=() term=(-n)
  deploy_ssh_options
  local bundle_top tarball unpack
  bundle_top=$(bundle_name "$arch")
  tarball=dist/$bundle_top.tar.gz
  local -a bundle=(./build.sh bundle --arch "$arch")
  [ -z "$model" ] || bundle+=(--model "$model")
  unpack="sh -c $(shquote "$DEPLOY_UNPACK") sh $(shquote "$bundle_top.tar.gz")"

  if [ -n "$dry" ]; then
    deploy_plan
    return
  fi
  "${bundle[@]}"
  local i failure=""
  for i in "${!hosts[@]}"; do
    deploy_host "$i" || deploy_stopped "$i" "$failure"
  done
  [ "${#hosts[@]}" = 1 ] || say "rolled $bundle_top out to ${#hosts[@]} hosts, one at a time: ${hosts[*]}"
}

# deploy's command line, into cmd_deploy's locals: dry, hosts and where,
# arch, model, port, identity, root, opts (--ssh-option) and again.
deploy_args() {
  local total=$#
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) dry=yes; shift ;;
      --hosts) need_value "$1" "${2:-}"; deploy_read_hosts "$2"; shift 2 ;;
      --arch | --model | --port | --identity | --root | --ssh-option)
        need_value "$1" "${2:-}"
        again+=("$1" "$2")
        case "$1" in
          --arch) arch=$2 ;;
          --model) model=$(from_caller "$2") ;;
          --port) port=$2 ;;
          --identity) identity=$(from_caller "$2") ;;
          --root) root=$2 ;;
          --ssh-option) opts+=("$2") ;;
        esac
        shift 2
        ;;
      -*) die "deploy: unknown option $1 (see ./build.sh help)" ;;
      *) deploy_add_host "$1" "argument $((total - $# + 1)) after deploy"; shift ;;
    esac
  done
}

# ssh's options (sshopts) and its terminal option (term), from cmd_deploy's
# port, identity and opts.
deploy_ssh_options() {
  local opt
  [ -z "$port" ] || sshopts+=(-p "$port")
  # Only this key: ssh-agent's others would count against the server's MaxAuthTries.
  [ -z "$identity" ] || sshopts+=(-i "$identity" -o IdentitiesOnly=yes)
  for opt in "${opts[@]}"; do sshopts+=(-o "$opt"); done
  # sudo on the far side may ask for a password: it needs a terminal.
  [ ! -t 0 ] || term=(-t)
}

# The deploy helpers below read and set cmd_deploy's locals (bash scopes them
# dynamically): hosts and where (each host and where it was given), again (the
# options to repeat in a resume command), sshopts, term, bundle (the command
# that builds it), bundle_top, tarball, unpack and root.

# A host from the command line or a hosts file; $2 says where, for messages.
deploy_add_host() {
  local host=$1 at=$2 i
  [ -n "$host" ] || die "deploy: $at is an empty HOST (an unset variable?): give [USER@]HOST there, or leave it out"
  [[ $host != -* ]] || die "deploy: $at: $host starts with -, which ssh would read as an option: give [USER@]HOST"
  [[ $host =~ ^[^[:space:]]+$ ]] || die "deploy: $at: \"$host\" is not one [USER@]HOST (one host per argument or line; # starts a comment)"
  for i in "${!hosts[@]}"; do
    [ "${hosts[i]}" != "$host" ] || die "deploy: $host is given twice (${where[i]} and $at): a roll updates each host once; remove one"
  done
  hosts+=("$host")
  where+=("$at")
}

# --hosts FILE: one [USER@]HOST per line; # starts a comment; blank lines are skipped.
deploy_read_hosts() {
  local given=$1 file line n=0 before=${#hosts[@]}
  local -a words
  file=$(from_caller "$given")
  [ -e "$file" ] || die "deploy: --hosts $given: no such file (write one [USER@]HOST per line in it)"
  [ ! -d "$file" ] || die "deploy: --hosts $given is a folder: give the file that lists the hosts"
  [ -r "$file" ] || die "deploy: --hosts $given: cannot read it (check its permissions)"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line//$'\r'/}
    line=${line%%#*}
    read -r -a words <<<"$line" || true
    case ${#words[@]} in
      0) ;;
      1) deploy_add_host "${words[0]}" "$given line $n" ;;
      *) die "deploy: $given line $n holds ${#words[@]} words (${words[*]}): one [USER@]HOST per line (# starts a comment)" ;;
    esac
  done <"$file"
  [ "${#hosts[@]}" -gt "$before" ] ||
    die "deploy: --hosts $given names no host (only blank lines and # comments): write one [USER@]HOST per line"
}

# The command that runs install.sh on a host, from the temporary folder $1 there.
deploy_remote_install() { echo "sh -c $(shquote "$DEPLOY_INSTALL") sh $(shquote "$1" "$bundle_top" "$root")"; }

# --dry-run: a bash script of every command, local and remote, host after host.
# The temporary folder's name comes from the far side.
deploy_plan() {
  local i count=${#hosts[@]}
  echo "# ./build.sh deploy --dry-run: nothing was run. The commands, in order, as a bash script:"
  [ "$count" = 1 ] || echo "# $count hosts, one at a time: ${hosts[*]}"
  echo "set -e # stop at the first command that fails: the hosts after it are not touched"
  shquote cd "$ROOT"
  shquote "${bundle[@]}"
  for i in "${!hosts[@]}"; do
    [ "$count" = 1 ] || echo "# host $((i + 1)) of $count: ${hosts[i]}"
    echo "tmp=\$($(shquote ssh "${sshopts[@]}" "${hosts[i]}" "$unpack") <$(shquote "$tarball"))"
    shquote ssh "${term[@]}" "${sshopts[@]}" "${hosts[i]}" "$(deploy_remote_install @TMP@)" | sed "s|@TMP@|'\"\$tmp\"'|"
  done
}

# Copies the bundle to host number $1, installs it there and, without --root,
# waits until hrmd is ready. On failure it says why in failure and returns 1.
deploy_host() {
  local host=${hosts[$1]} at="" tmp
  [ "${#hosts[@]}" = 1 ] || at="[$(($1 + 1))/${#hosts[@]}] "
  say "${at}copying $tarball to $host and unpacking it in a temporary folder there"
  # shellcheck disable=SC2029 # the command is for the far side, quoted for it
  if ! tmp=$(ssh "${sshopts[@]}" "$host" "$unpack" <"$tarball"); then
    failure="could not copy the bundle to $host (above): check that $(shquote ssh "${sshopts[@]}" "$host" true) works (user, key, port, host key)"
    return 1
  fi
  if ! [[ $tmp =~ ^/tmp/hrmd-deploy\.[A-Za-z0-9]+$ ]]; then
    failure="$host answered \"$tmp\" for its temporary folder: is its shell printing extra lines (motd, .bashrc)?"
    return 1
  fi
  if [ -n "$root" ]; then
    say "${at}installing into $root on $host (no service started)"
    failure="installing into $root on $host failed (above)"
  else
    say "${at}installing on $host and restarting hrmd; waiting up to 10 minutes for it to be ready (a first TensorRT engine build takes minutes)"
    failure="installing on $host failed, or hrmd did not get ready there (above)"
  fi
  # shellcheck disable=SC2029 # the command is for the far side, quoted for it
  ssh "${term[@]}" "${sshopts[@]}" "$host" "$(deploy_remote_install "$tmp")" || return 1
  failure=""
  say "${at}deployed $bundle_top to $host${root:+ (into $root)}"
}

# The roll stopped at host number $1 for the reason $2: which hosts have the
# new bundle, which were not touched, and the command that resumes from it.
deploy_stopped() {
  local i=$1 failure=$2 self=${HRMD_BUILD_SH:-$ROOT/build.sh}
  [ "${#hosts[@]}" -gt 1 ] || die "$failure"
  [[ $self == */* ]] || self=./$self
  local updated="${hosts[*]:0:i}" left="${hosts[*]:i+1}"
  die "$failure
the roll stopped at ${hosts[i]}, host $((i + 1)) of ${#hosts[@]}:
  updated:     ${updated:-none (it was the first)}
  not touched: ${left:-none (it was the last)}
fix ${hosts[i]}, then resume from it (or leave it out to skip it):
  $(shquote "$self" deploy "${again[@]}" "${hosts[@]:i}")"
}

cmd_deploy "$@"
