# shellcheck shell=bash
# What the scripts of internal/build share; each sources it first.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# An option's value, or a stop that names the option.
need_value() { [ -n "${2:-}" ] || die "$1 needs a value (see ./build.sh help)"; }
