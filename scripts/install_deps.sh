#!/usr/bin/env bash
# Installs the Debian packages pbundle's examples (no argument) or tests
# (--tests) use, when they are missing. Needs root (or sudo); prints what to
# install otherwise. Safe to run again: it does nothing when everything is there.
set -euo pipefail

# program-to-check  Debian-package; the example needs only FUSE mounting.
wanted=(
  "squashfuse squashfuse"
  "fusermount3 fuse3"
)
if [ "${1:-}" = "--tests" ]; then wanted+=(
  "mksquashfs squashfs-tools"
  "unsquashfs squashfs-tools"
  "zstd zstd"
  "readelf binutils"
  "objcopy binutils"
  "script bsdutils"
  "chromium chromium"
); fi

missing=()
for entry in "${wanted[@]}"; do
  read -r program package <<<"$entry"
  if ! command -v "$program" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
# The Python module the tests use as an independent CBOR checker, for the
# python3 first on PATH: Debian's package for Debian's own (externally managed)
# interpreter, pip's configured index for any other (pyenv, a venv).
if [ "${1:-}" = "--tests" ] && command -v python3 >/dev/null 2>&1 &&
  ! python3 -c "import cbor2" >/dev/null 2>&1; then
  if [ "$(command -v python3)" = /usr/bin/python3 ]; then
    missing+=("python3-cbor2")
  else
    echo "pbundle: installing the Python module cbor2 (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check cbor2
  fi
fi

# The full-stack tests build a Python runtime from Debian's packages with
# `apt-get download`, which needs the package lists.
need_lists=0
if [ "${1:-}" = "--tests" ] && ! apt-cache show python3.11-minimal >/dev/null 2>&1; then
  need_lists=1
fi

[ "${#missing[@]}" -eq 0 ] && [ "$need_lists" -eq 0 ] && exit 0

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "pbundle: please install these Debian packages: ${missing[*]}" >&2
  exit 1
fi
$sudo apt-get update -qq
[ "${#missing[@]}" -eq 0 ] && exit 0
echo "pbundle: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
