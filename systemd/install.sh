#!/bin/sh
# Installs hrmd as a systemd service, from a release bundle or from a checkout
# after ./build.sh build. Run it as root; run it again to upgrade. It keeps an
# edited /etc/hrmd/hrmd.yaml.
#
#   sudo systemd/install.sh [--root DIR] [--no-start]
#
#   --root DIR   install into DIR instead of / (a test or an image); nothing is
#                started; DIR/etc/passwd and DIR/etc/group must be there (useradd
#                --root reads them)
#   --no-start   install and enable, but do not (re)start the service
#
# It looks for, next to itself or in the checkout:
#   hrmd, bin/hrmd or ../bin/hrmd                the binary          -> /usr/bin/hrmd
#   libonnxruntime.so*, lib/ or ../.cache/       onnxruntime (opt.)  -> /usr/lib/hrmd/
#   models/default/ (a bundle folder)            the model (opt.)    -> /usr/share/hrmd/models/default/
#   hrmd.service, hrmd.tmpfiles, hrmd.yaml
#   grafana-dashboard.json                       the dashboard       -> /usr/share/hrmd/grafana/hrmd.json
#   SHA256SUMS (a release bundle)                checked first: a damaged copy installs nothing
set -eu

# The whole script is one function, called on its last line, so a half-copied
# file never runs half an install. --help prints the comment above.

main() {
	root=""
	start=yes
	while [ $# -gt 0 ]; do
		case "$1" in
		--root) root=${2:?--root needs a folder}; start=no; shift 2 ;;
		--no-start) start=no; shift ;;
		-h | --help) sed -n '2,/^[^#]/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
		*) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
		esac
	done
	here=$(cd "$(dirname "$0")" && pwd)
	if [ "$(id -u)" != 0 ]; then
		echo "install.sh: run it as root (sudo $0)" >&2
		exit 1
	fi
	if [ -n "$root" ]; then
		# useradd --root and systemd-tmpfiles --root read the users from there.
		if [ ! -f "$root/etc/passwd" ] || [ ! -f "$root/etc/group" ]; then
			die "--root $root: no etc/passwd and etc/group there (useradd --root needs them; copy minimal ones in)"
		fi
		root=$(cd "$root" && pwd)
	fi

	if [ -f "$here/SHA256SUMS" ]; then
		(cd "$here" && sha256sum -c --quiet SHA256SUMS) ||
			die "the files in $here do not match its SHA256SUMS (above): a damaged or partial copy of the bundle; nothing was installed, unpack it again"
	fi
	bin=$(first_file "$here/hrmd" "$here/bin/hrmd" "$here/../bin/hrmd") ||
		die "no hrmd binary next to install.sh, in bin/ or in ../bin: run ./build.sh build first"
	for f in hrmd.service hrmd.tmpfiles hrmd.yaml grafana-dashboard.json; do
		[ -f "$here/$f" ] || die "$here/$f is missing"
	done
	machine=$(uname -m)
	built=$(elf_machine "$bin")
	# A service that cannot exec restarts forever; an image (--root) may be for another machine.
	if [ -z "$root" ] && [ "$built" != "$machine" ]; then
		case "$machine" in
		x86_64 | aarch64) die "$bin is built for $built but this machine is $machine: use the linux-$(bundle_arch "$machine") bundle (./build.sh bundle --arch $(bundle_arch "$machine"))" ;;
		*) die "$bin is built for $built; this machine is $machine, and hrmd is built for x86_64 and aarch64 only" ;;
		esac
	fi
	# Likewise a C library older than the one it was linked against: the
	# arm64 build needs JetPack 6 (Ubuntu 22.04); JetPack 5 has glibc 2.31.
	if [ -z "$root" ]; then
		need=$(grep -ao 'GLIBC_2\.[0-9]*' "$bin" | sed 's/GLIBC_2\.//' | sort -n | tail -n 1)
		have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc 2\.\([0-9]*\).*/\1/p')
		if [ -n "$need" ] && [ -n "$have" ] && [ "$have" -lt "$need" ]; then
			die "$bin needs glibc 2.$need, and this machine has 2.$have: on a Jetson that means JetPack 6 (Ubuntu 22.04) or newer"
		fi
	fi

	say "user hrmd (system account, in the video and render groups for the Jetson GPU)"
	if ! in_file "^hrmd:" "$root/etc/group"; then
		groupadd ${root:+--root "$root"} --system hrmd
	fi
	if ! in_file "^hrmd:" "$root/etc/passwd"; then
		useradd ${root:+--root "$root"} --system --gid hrmd --home-dir /var/lib/hrmd --no-create-home \
			--shell /usr/sbin/nologin --comment "hrmd daemon" hrmd
	fi
	# The unit's SupplementaryGroups= names both, and systemd refuses to start
	# it without them: made where they are missing (not a Jetson).
	for group in video render; do
		if ! in_file "^$group:" "$root/etc/group"; then
			say "no $group group here (not a Jetson?): creating it for the unit"
			groupadd ${root:+--root "$root"} --system "$group"
		fi
		usermod ${root:+--root "$root"} --append --groups "$group" hrmd
	done

	say "files"
	install -D -m 0755 "$bin" "$root/usr/bin/hrmd"
	# A release bundle carries the library; a checkout has the one ./build.sh deps fetched.
	lib=$(first_file "$here"/libonnxruntime.so* "$here"/lib/libonnxruntime.so* \
		"$here"/../.cache/onnxruntime/*/linux-"$(bundle_arch "$machine")"/libonnxruntime.so.1) && {
		install -D -m 0644 "$lib" "$root/usr/lib/hrmd/libonnxruntime.so.1"
		say "onnxruntime: /usr/lib/hrmd/libonnxruntime.so.1"
		# The shipped library is onnxruntime's CPU build: on a Jetson it runs,
		# but without the GPU until a TensorRT build is in /usr/local/lib
		# (hrmd prefers it) or the config points at one.
		if [ -f "$root/etc/nv_tegra_release" ] && ! grep -Eq '^[[:space:]]*library:[[:space:]]*"?/' "$root/etc/hrmd/hrmd.yaml" 2>/dev/null; then
			if [ -f "$root/usr/local/lib/libonnxruntime_providers_tensorrt.so" ] &&
				first_file "$root"/usr/local/lib/libonnxruntime.so.1 "$root"/usr/local/lib/libonnxruntime.so >/dev/null; then
				say "this is a Jetson: hrmd uses the TensorRT onnxruntime in /usr/local/lib rather than that CPU build; hrmd doctor names the library it chose"
			else
				say "this is a Jetson, and that library is onnxruntime's CPU build: install a TensorRT build into /usr/local/lib, where hrmd finds it, or set onnxruntime.library in /etc/hrmd/hrmd.yaml (README.md, Deploy to a Jetson); hrmd doctor checks it"
			fi
		fi
	}
	if [ -f "$here/models/default/hrm.yaml" ]; then
		rm -rf "$root/usr/share/hrmd/models/default"
		mkdir -p "$root/usr/share/hrmd/models"
		cp -R "$here/models/default" "$root/usr/share/hrmd/models/default"
		say "model: /usr/share/hrmd/models/default"
	fi
	install -D -m 0644 "$here/hrmd.service" "$root/etc/systemd/system/hrmd.service"
	install -D -m 0644 "$here/hrmd.tmpfiles" "$root/usr/lib/tmpfiles.d/hrmd.conf"
	install -D -m 0644 "$here/grafana-dashboard.json" "$root/usr/share/hrmd/grafana/hrmd.json"
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
		# Type=notify: this returns once the model is loaded and warm (minutes for a first TensorRT engine build).
		say "restarting hrmd: waits until the model is loaded and warmed up"
		systemctl restart hrmd.service
		say "started: journalctl -u hrmd -f shows the log; curl http://127.0.0.1:9464/readyz says when it is ready"
	fi
}

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
in_file() { [ -f "$2" ] && grep -q "$1" "$2"; }
# The ELF header's e_machine (bytes 18-19), named as uname -m names machines.
elf_machine() {
	case "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')" in
	3e00) echo x86_64 ;;
	b700) echo aarch64 ;;
	*) echo "an unknown machine" ;;
	esac
}
bundle_arch() {
	case "$1" in
	x86_64) echo x64 ;;
	aarch64) echo arm64 ;;
	*) echo unknown ;;
	esac
}
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
