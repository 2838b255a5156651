# shellcheck shell=sh
# Run on each target by ./build.sh deploy (internal/build/deploy.sh), as the
# text of `sh -c` with the temporary folder holding the unpacked bundle, the
# bundle's name and the --root folder (or ""): install.sh, as root, then the
# folder goes; without --root, wait for /readyz (a first TensorRT engine build
# takes minutes). The far side's sh may be dash: POSIX sh only.
t=$1 top=$2 root=$3
cleanup() { rm -rf "$t"; }
trap cleanup EXIT
trap "exit 130" HUP INT TERM
s=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deploy: $(id -un) is not root and $(uname -n) has no sudo: deploy as root@HOST, or install sudo there" >&2; exit 1; }
  s=sudo
fi
if [ -n "$root" ]; then
  $s sh "$t/$top/install.sh" --root "$root"
  exit
fi
if ! $s sh "$t/$top/install.sh"; then
  echo "deploy: install.sh failed (above); the service now:" >&2
  $s systemctl status hrmd --no-pager | head
  $s journalctl -u hrmd -n 50 --no-pager
  exit 1
fi
# Where /readyz is: http.listen of the config (kept across deploys), else the default.
listen=127.0.0.1:9464
if [ -f /etc/hrmd/hrmd.yaml ] && grep -q "^[[:space:]]*listen:" /etc/hrmd/hrmd.yaml; then
  listen=$(sed -n "s/^[[:space:]]*listen:[[:space:]]*//p" /etc/hrmd/hrmd.yaml | head -n 1 | sed "s/[[:space:]]*#.*//; s/^[\"\x27]//; s/[\"\x27]$//")
fi
if [ -z "$listen" ]; then
  # HTTP is off. Type=notify: the restart above returned once hrmd was ready.
  $s systemctl status hrmd --no-pager | head
  systemctl is-active --quiet hrmd
  exit
fi
case $listen in
  0.0.0.0:* | :*) listen=127.0.0.1:${listen##*:} ;;
  "[::]:"*) listen="[::1]:${listen##*:}" ;;
esac
url=http://$listen/readyz
if command -v curl >/dev/null 2>&1; then
  ready() { [ "$(curl -s -o "$t/readyz" -w "%{http_code}" --max-time 10 "$url")" = 200 ]; }
elif command -v wget >/dev/null 2>&1; then
  ready() { wget -q -O "$t/readyz" -T 10 "$url"; }
else
  echo "deploy: neither curl nor wget on $(uname -n) to ask $url (apt-get install curl there); systemd says:" >&2
  $s systemctl status hrmd --no-pager | head
  systemctl is-active --quiet hrmd
  exit
fi
answer() { a=$(cat "$t/readyz" 2>/dev/null); echo "${a:-no answer}"; }
start=$(date +%s) next=0
until ready; do
  waited=$(($(date +%s) - start)) why=
  if systemctl is-failed --quiet hrmd; then
    why="hrmd failed"
  elif [ "$waited" -ge 600 ]; then
    why="hrmd is not ready after 10 minutes"
  fi
  if [ -n "$why" ]; then
    echo "deploy: $why ($url: $(answer)); systemd and the last 50 log lines:" >&2
    $s systemctl status hrmd --no-pager | head
    $s journalctl -u hrmd -n 50 --no-pager
    exit 1
  fi
  if [ "$waited" -ge "$next" ]; then
    echo "deploy: waiting for $url (${waited}s): $(answer)"
    next=$((waited + 30))
  fi
  sleep 5
done
$s systemctl status hrmd --no-pager | head
echo "readyz: $(answer)"
