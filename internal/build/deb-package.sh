#!/usr/bin/env bash
# One .deb of hrmd, declared by systemd/deb/: the files its `contents` lists,
# the model, the changelog, and the control files (control, conffiles, the
# maintainer scripts) for dpkg-deb. ./build.sh deb (internal/build/deb.sh) and
# the sandbox test run it, through lib.sh's deb_package.
#
#   internal/build/deb-package.sh --arch amd64|arm64 --bin HRMD --ort LIBONNXRUNTIME --model DIR --out DIR
#
# dpkg-deb rather than nfpm: building nfpm from source takes 2.5 minutes of a
# 2-core machine with a cold Go cache, as CI's is; dpkg-deb is part of dpkg.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

MAINTAINER=${HRMD_DEB_MAINTAINER:-hrmd maintainers <maintainers@hrmd.dev>}
DECLARED=systemd/deb

main() {
  local arch="" bin="" ort="" model="" outdir=""
  while [ $# -gt 0 ]; do
    need_value "$1" "${2:-}"
    case "$1" in
      --arch) arch=$2 ;;
      --bin) bin=$2 ;;
      --ort) ort=$2 ;;
      --model) model=$2 ;;
      --out) outdir=$2 ;;
      *) die "deb-package.sh: unknown option $1 (--arch, --bin, --ort, --model, --out)" ;;
    esac
    shift 2
  done
  case "$arch" in
    amd64 | arm64) ;;
    *) die "deb-package.sh --arch ${arch:-(none)}: amd64 or arm64" ;;
  esac
  if [ ! -f "$bin" ] || [ ! -f "$ort" ]; then
    die "deb-package.sh: no hrmd ($bin) or onnxruntime ($ort) to package"
  fi
  [ -f "$model/hrm.yaml" ] || die "deb-package.sh --model $model: there is no $model/hrm.yaml (a model bundle folder)"
  local version mtime
  version=$(deb_version)
  # The last commit's time, so the same commit gives the same package.
  mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  local pkg=$tmp/hrmd
  lay_out "$pkg" "$arch" "$bin" "$ort" "$model"
  changelog "$version" "$mtime" | gzip -9n >"$pkg/usr/share/doc/hrmd/changelog.gz"
  control_files "$pkg" "$version" "$arch" "$bin" "$ort"
  find "$pkg" -exec touch -h -d "@$mtime" {} +
  mkdir -p "$outdir"
  local deb=$outdir/hrmd_${version}_$arch.deb
  SOURCE_DATE_EPOCH=$mtime dpkg-deb --root-owner-group -Zgzip -z6 --build "$pkg" "$deb" >/dev/null
  echo "$deb"
}

# The Debian version: a tag's (v1.2.0-3-gabc1234 is 1.2.0+3.gabc1234), else
# 0~COMMITS.gHASH, which sorts below any tag's and rises with each commit.
deb_version() {
  local d
  if d=$(git describe --tags --dirty --abbrev=7 2>/dev/null) && [[ $d =~ ^v?[0-9] ]]; then
    d=${d#v}
    d=${d/-/+}
    echo "${d//-/.}"
  else
    d=$(git describe --always --dirty --abbrev=7 2>/dev/null) || d=unknown
    echo "0~$(git rev-list --count HEAD 2>/dev/null || echo 0).g$d" | tr - .
  fi
}

# lay_out DIR ARCH BIN ORT MODEL: the package's files under DIR, as
# systemd/deb/contents lists them, and the model.
lay_out() {
  local pkg=$1 arch=$2 bin=$3 ort=$4 model=$5 src dest mode
  while read -r src dest mode; do
    case "$src" in
      "" | "#"*) continue ;;
      @BIN@) src=$bin ;;
      @ORT@) src=$ort ;;
    esac
    install -D -m "$mode" "$src" "$pkg$dest"
  done <"$DECLARED/contents"
  # As dh_strip strips: the symbols go, the version stamped in stays.
  local strip=strip
  [ "$arch" != arm64 ] || [ "$(uname -m)" = aarch64 ] || strip=aarch64-linux-gnu-strip
  command -v "$strip" >/dev/null || die "deb-package.sh needs $strip (apt-get install binutils-aarch64-linux-gnu, which gcc-aarch64-linux-gnu brings)"
  "$strip" --remove-section=.comment --remove-section=.note "$pkg/usr/bin/hrmd"
  mkdir -p "$pkg/usr/share/hrmd/models"
  cp -RL "$model" "$pkg/usr/share/hrmd/models/default"
  find "$pkg/usr/share/hrmd/models" -type f -exec chmod 0644 {} +
  find "$pkg" -type d -exec chmod 0755 {} +
}

changelog() {
  cat <<EOC
hrmd ($1) unstable; urgency=medium

  * Built by ./build.sh deb from commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown).

 -- $MAINTAINER  $(LC_ALL=C date -u -R -d "@$2")
EOC
}

# control_files DIR VERSION ARCH BIN ORT: DIR/DEBIAN, from systemd/deb.
control_files() {
  local pkg=$1 version=$2 arch=$3 bin=$4 ort=$5 libc cxx
  libc=$(symbol_floor GLIBC_2 "$bin" "$ort")
  # control's libstdc++6 (>= 6): GCC 6's library, GLIBCXX_3.4.22.
  cxx=$(symbol_floor GLIBCXX_3.4 "$bin" "$ort")
  [ "${cxx:-0}" -le 22 ] || die "deb-package.sh: $ort needs GLIBCXX_3.4.$cxx: raise libstdc++6 in $DECLARED/control"
  mkdir -m 0755 "$pkg/DEBIAN"
  sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$MAINTAINER|" -e "s|@LIBC@|2.$libc|" \
    -e "s|@INSTALLED_SIZE@|$(du -sk --apparent-size "$pkg" | cut -f1)|" "$DECLARED/control" >"$pkg/DEBIAN/control"
  install -m 0644 "$DECLARED/conffiles" "$pkg/DEBIAN/conffiles"
  install -m 0755 "$DECLARED/postinst" "$DECLARED/prerm" "$DECLARED/postrm" "$pkg/DEBIAN/"
  (cd "$pkg" && find . -path ./DEBIAN -prune -o -type f ! -path ./etc/\* -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
  chmod 0644 "$pkg/DEBIAN/md5sums"
}

# symbol_floor PREFIX FILE...: the highest N of the versioned symbols
# PREFIX.N the files need (GLIBC_2.34 is 34).
symbol_floor() {
  local prefix=$1
  shift
  grep -aoh "${prefix//./\\.}\.[0-9]*" "$@" | sed "s/^${prefix//./\\.}\.//" | sort -n | tail -n 1
}

main "$@"
