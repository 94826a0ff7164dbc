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
  "chromium chromium"
); fi

missing=()
for entry in "${wanted[@]}"; do
  read -r program package <<<"$entry"
  if ! command -v "$program" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
# Python modules the tests use as independent checkers, from pip's configured index.
if [ "${1:-}" = "--tests" ] && command -v python3 >/dev/null 2>&1 &&
  ! python3 -c "import cbor2" >/dev/null 2>&1; then
  echo "pbundle: installing the Python module cbor2 (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check cbor2
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "pbundle: please install these Debian packages: ${missing[*]}" >&2
  exit 1
fi
echo "pbundle: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
