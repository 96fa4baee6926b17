#!/usr/bin/env bash
# Installs what wattle needs to build, test and run on Debian 12, and nothing when it is all there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates tzdata
      libmicrohttpd-dev libpq-dev libjansson-dev libcurl4-openssl-dev libssl-dev
      libicu-dev zlib1g-dev libzip-dev libqrencode-dev libmodbus-dev libmosquitto-dev mosquitto mosquitto-clients libsqlite3-dev clang libclang-rt-14-dev libpng-dev libyaml-dev chromium check libsubunit-dev postgresql-15 postgresql-client-15 wrk curl systemd
      libhpdf-dev fonts-wqy-zenhei poppler-utils libargon2-dev prometheus nginx pgbouncer)
missing=()
# the spec's test tools (tests/spec) are npm packages: Debian's Node.js and npm, unless a node
# and an npm are there already
command -v npm >/dev/null || pkgs+=(nodejs npm)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node and npm: the console's charting library and the browser tests' puppeteer-core come
# from npm (a nodejs that bundles npm counts)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
