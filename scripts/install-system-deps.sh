#!/usr/bin/env bash
# Debian 12 packages the hotline needs on the host; installs only what is missing.
#   debootstrap        builds the Debian sid chroot that holds Asterisk 22
#   espeak-ng, sox     synthesise the Vietnamese prompts (8 kHz WAV)
#   sip-tester         SIPp, for the load benchmarks
#   postgresql         the throw-away PostgreSQL cluster of the database tests
#   fail2ban           its `asterisk` filter, run by the e2e test of deploy/fail2ban (fail2ban-regex)
#   faketime           the unit suite run with the calendar years ahead (tests)
#   chromium           headless browser of the console's browser tests (driven by playwright)
#   python3-venv, make, ca-certificates
set -euo pipefail
packages=(debootstrap espeak-ng sox sip-tester postgresql python3-venv make ca-certificates faketime fail2ban chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian postgresql package starts a cluster on 5432; the tests make their own.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect 15 main stop 2>/dev/null || true
fi
# The Debian fail2ban package starts a daemon with an sshd jail; the tests only run
# fail2ban-regex, so a host that did not have it keeps no new daemon.
if [[ " ${missing[*]} " == *" fail2ban "* ]] && command -v systemctl >/dev/null; then
  systemctl disable --now fail2ban 2>/dev/null || true
fi
