#!/usr/bin/env bash
# Installs what Tollbooth needs to build on Debian/Ubuntu, only when it is missing.
set -euo pipefail

# postgresql: the server the PostgreSQL store tests start in a temporary folder (initdb, pg_ctl).
packages=(pkg-config libsqlite3-dev libcurl4-openssl-dev libxlsxwriter-dev python3-venv sqlite3 chromium postgresql)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6.1 or later from swift.org" >&2; exit 1; }
