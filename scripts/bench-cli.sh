#!/usr/bin/env bash
# The client's benchmark (issue 10): `alephd file add` of a large file (throughput, peak RSS
# of the client) and the start-up time of a read command, against a local daemon it starts.
# Optionally the same read with the Python `aleph` CLI for comparison.
#
#   scripts/bench-cli.sh [SIZE_MIB=1024] [RUNS=30]
#
# Needs a release build (`cargo build --release -p alephd`) and /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
RUNS=${2:-30}
BIN=${ALEPHD_BIN:-target/release/alephd}
WORK=$(mktemp -d)
trap 'kill "$DAEMON" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

PORT=$((20000 + RANDOM % 20000))
export ALEPHD_API=http://127.0.0.1:$PORT ALEPHD_DATA_DIR=$WORK/client
# Large files through a STORE: raise the node's limits to fit the benchmark's file.
LIMIT=$(( (SIZE_MIB + 16) << 20 ))
# and let the key store it without a balance (free up to that size).
ALEPHD_STORAGE__MAX_FILE_SIZE=$LIMIT ALEPHD_STORAGE__MAX_IPFS_FILE_SIZE=$LIMIT \
  ALEPHD_PROCESSOR__BILLING__FREE_STORE_MIB=$((SIZE_MIB + 16)) \
  "$BIN" daemon --data-dir "$WORK/node" --api-addr "127.0.0.1:$PORT" \
  --p2p-addr /ip4/127.0.0.1/tcp/0 --log warn >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do
  curl -sf "$ALEPHD_API/api/v0/version" >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN" key new >/dev/null

head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/big.bin"
for engine in storage ipfs; do
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" file add "$WORK/big.bin" --engine "$engine" --json >"$WORK/add.json"
  read -r seconds rss_kib <"$WORK/time"
  python3 - "$engine" "$SIZE_MIB" "$seconds" "$rss_kib" "$WORK/add.json" <<'PY'
import json, sys
engine, mib, seconds, rss, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
status = json.load(open(out))["status"]
print(f"file add {mib} MiB ({engine}): {seconds:.2f} s = {mib / seconds:.0f} MiB/s end to end "
      f"(hash + upload + node storing + STORE processed: {status}); client peak RSS {rss / 1024:.1f} MiB")
PY
done

# Start-up of a read command: `alephd message list` (an HTTP call and JSON printing).
python3 - "$BIN" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
binary, runs = sys.argv[1], int(sys.argv[2])
def measure(cmd):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], min(times)
for name, cmd in [("alephd message list --limit 5", [binary, "message", "list", "--limit", "5"]),
                  ("alephd key list (no network)", [binary, "key", "list"])]:
    median, p90, low = measure(cmd)
    print(f"{name}: median {median:.1f} ms, p90 {p90:.1f} ms, min {low:.1f} ms (n={runs})")
PY
if [ -x .venv/bin/aleph ]; then
  python3 - .venv/bin/aleph "$ALEPHD_API" <<'PY'
import os, statistics, subprocess, sys, time
aleph, api = sys.argv[1], sys.argv[2]
env = dict(os.environ, ALEPH_API_HOST=api)
times = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([aleph, "message", "find", "--pagination", "5"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
print(f"python aleph message find: median {statistics.median(times):.0f} ms (n=5)")
PY
fi
