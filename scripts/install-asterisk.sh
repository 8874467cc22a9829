#!/usr/bin/env bash
# The embedded PBX: Debian sid's Asterisk 22 in a debootstrap chroot, cached
# outside the checkout (about 90 s and 570 MB the first time, reused after).
set -euo pipefail
root="${HOTLINE_ASTERISK_ROOT:-$HOME/.cache/hotline/asterisk-sid}"
if [ -x "$root/usr/sbin/asterisk" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "debootstrap and chroot need root: run as root (or set HOTLINE_ASTERISK_ROOT to a ready chroot)" >&2
  exit 1
fi
# Use the Debian mirror apt already uses on this machine.
mirror="${HOTLINE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$( (grep -rhoE '^(URIs:|deb) +[a-z]+://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) \
    | awk '$2 ~ /\/debian\/?$/ {print $2; exit}')
fi
mirror="${mirror%/}"
[ -n "$mirror" ] || { echo "no Debian mirror found; set HOTLINE_DEBIAN_MIRROR" >&2; exit 1; }
tmp="$root.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$root")"
echo "installing Asterisk 22 (Debian sid) into $root from $mirror ..."
start=$(date +%s)
if ! debootstrap --variant=minbase \
    --include=asterisk,asterisk-core-sounds-en-wav,asterisk-moh-opsound-wav \
    sid "$tmp" "$mirror" > "$tmp.log" 2>&1; then
  tail -n 30 "$tmp.log" >&2
  rm -rf "$tmp"
  exit 1
fi
rm -f "$tmp.log"
mv "$tmp" "$root"
echo "Asterisk ready: $(chroot "$root" asterisk -V) in $(( $(date +%s) - start )) s"
