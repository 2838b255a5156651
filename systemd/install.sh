#!/bin/sh
# Installs hrmd as a systemd service, from a release bundle or from a checkout
# after ./build.sh build. Run it as root; run it again to upgrade. It keeps an
# edited /etc/hrmd/hrmd.yaml.
#
#   sudo systemd/install.sh [--root DIR] [--no-start]
#
#   --root DIR   install into DIR instead of / (a test or an image); nothing is started
#   --no-start   install and enable, but do not (re)start the service
#
# It looks for, next to itself or in the checkout:
#   hrmd or ../bin/hrmd                          the binary          -> /usr/bin/hrmd
#   libonnxruntime.so*, lib/ or ../.cache/       onnxruntime (opt.)  -> /usr/lib/hrmd/
#   models/default/ (a bundle folder)            the model (opt.)    -> /usr/share/hrmd/models/default/
#   hrmd.service, hrmd.tmpfiles, hrmd.yaml
#
# The whole script is one function, called on its last line, so a half-copied
# file never runs half an install.
set -eu

main() {
	root=""
	start=yes
	while [ $# -gt 0 ]; do
		case "$1" in
		--root) root=${2:?--root needs a folder}; start=no; shift 2 ;;
		--no-start) start=no; shift ;;
		-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
		esac
	done
	here=$(cd "$(dirname "$0")" && pwd)
	if [ "$(id -u)" != 0 ]; then
		echo "install.sh: run it as root (sudo $0)" >&2
		exit 1
	fi

	bin=$(first_file "$here/hrmd" "$here/bin/hrmd" "$here/../bin/hrmd") ||
		die "no hrmd binary next to install.sh or in ../bin: run ./build.sh build first"
	for f in hrmd.service hrmd.tmpfiles hrmd.yaml; do
		[ -f "$here/$f" ] || die "$here/$f is missing"
	done

	say "user hrmd (system account, in the video group for the Jetson GPU)"
	if ! in_file "^hrmd:" "$root/etc/group"; then
		groupadd ${root:+--root "$root"} --system hrmd
	fi
	if ! in_file "^hrmd:" "$root/etc/passwd"; then
		useradd ${root:+--root "$root"} --system --gid hrmd --home-dir /var/lib/hrmd --no-create-home \
			--shell /usr/sbin/nologin --comment "hrmd daemon" hrmd
	fi
	if in_file "^video:" "$root/etc/group"; then
		usermod ${root:+--root "$root"} --append --groups video hrmd
	else
		say "no video group here (not a Jetson?): skipped"
	fi

	say "files"
	install -D -m 0755 "$bin" "$root/usr/bin/hrmd"
	case "$(uname -m)" in
	x86_64) arch=x64 ;;
	aarch64) arch=arm64 ;;
	*) arch=unknown ;;
	esac
	# A release bundle carries the library; a checkout has the one ./build.sh deps fetched.
	lib=$(first_file "$here"/libonnxruntime.so* "$here"/lib/libonnxruntime.so* \
		"$here"/../.cache/onnxruntime/*/linux-$arch/libonnxruntime.so.1) && {
		install -D -m 0644 "$lib" "$root/usr/lib/hrmd/libonnxruntime.so.1"
		say "onnxruntime: /usr/lib/hrmd/libonnxruntime.so.1"
	}
	if [ -f "$here/models/default/hrm.yaml" ]; then
		rm -rf "$root/usr/share/hrmd/models/default"
		mkdir -p "$root/usr/share/hrmd/models"
		cp -R "$here/models/default" "$root/usr/share/hrmd/models/default"
		say "model: /usr/share/hrmd/models/default"
	fi
	install -D -m 0644 "$here/hrmd.service" "$root/etc/systemd/system/hrmd.service"
	install -D -m 0644 "$here/hrmd.tmpfiles" "$root/usr/lib/tmpfiles.d/hrmd.conf"
	if [ -f "$root/etc/hrmd/hrmd.yaml" ]; then
		if ! cmp -s "$here/hrmd.yaml" "$root/etc/hrmd/hrmd.yaml"; then
			install -D -m 0644 "$here/hrmd.yaml" "$root/etc/hrmd/hrmd.yaml.new"
			say "kept your /etc/hrmd/hrmd.yaml; the shipped one is /etc/hrmd/hrmd.yaml.new"
		fi
	else
		install -D -m 0644 "$here/hrmd.yaml" "$root/etc/hrmd/hrmd.yaml"
	fi

	say "folders (systemd-tmpfiles)"
	systemd-tmpfiles --create ${root:+--root="$root"} "$root/usr/lib/tmpfiles.d/hrmd.conf"

	if [ -n "$root" ]; then
		say "installed into $root"
		return
	fi
	systemctl daemon-reload
	systemctl enable hrmd.service
	if [ "$start" = yes ]; then
		systemctl restart hrmd.service
		say "started: journalctl -u hrmd -f shows the log; curl http://127.0.0.1:9464/readyz says when it is ready"
	fi
}

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
in_file() { [ -f "$2" ] && grep -q "$1" "$2"; }
first_file() {
	for f in "$@"; do
		if [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

main "$@"
