#!/usr/bin/env bash
# Tries wamux with no phone and no internet: starts the fake WhatsApp Web and `wamux serve`
# pointed at it, prints where to look, and stops both on ctrl-c.
#   ./scripts/demo.sh [--port 8083] [--fake-port 8090]
set -euo pipefail
cd "$(dirname "$0")/.."
port=8083
fake_port=8090
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --fake-port) fake_port=$2; shift 2 ;;
    *) echo "usage: $0 [--port N] [--fake-port N]" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
cargo build --release --bins --locked

data=demo-data
mkdir -p "$data"
pids=()
cleanup() {
  # wamux first: it closes every browser it started before it exits.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

target/release/wamux-fake-web --listen "127.0.0.1:$fake_port" > "$data/fake.log" 2>&1 &
pids=($! "${pids[@]}")
until grep -q "listening on" "$data/fake.log" 2>/dev/null; do
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$data/fake.log" >&2; exit 1; }
  sleep 0.1
done

target/release/wamux serve --listen "127.0.0.1:$port" --data-dir "$data" \
  --web-url "http://127.0.0.1:$fake_port" > "$data/wamux.out" 2> "$data/wamux.log" &
pids=($! "${pids[@]}")
until grep -q "wamux listening on" "$data/wamux.out" 2>/dev/null; do
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$data/wamux.log" >&2; exit 1; }
  sleep 0.1
done

cat <<TEXT

  wamux demo is running (logs in $data/wamux.log):

  Dashboard    http://127.0.0.1:$port/             press "New session", then go to Sessions
  Sessions     http://127.0.0.1:$port/sessions     the QR codes, as they appear
  Fake phone   http://127.0.0.1:$fake_port/__fake/phone   "Scan as +number" links a session;
                                                   send it messages from there too
  API          http://127.0.0.1:$port/api/openapi.json

  Press ctrl-c to stop everything.
TEXT
wait "${pids[0]}"
