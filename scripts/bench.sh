#!/usr/bin/env bash
# Benchmarks wamux on this machine against the fake WhatsApp Web: N sessions created at once,
# linked, M sends each; prints a Markdown table and writes the figures and raw samples as JSON.
# Needs bash, python3 (standard library only) and the built binaries; uses wrk if on PATH.
#   scripts/bench.sh [--sessions N] [--sends M] [--out FILE.json] [--python-client]
#                    [-- wamux serve flags...]
# --python-client: measure API throughput with Python threads even when wrk is on PATH.
# Binaries: target/release/ of this repository, or $WAMUX_BIN_DIR.
# Exit status: 0 all went well, 1 a failure (or a process left behind), 2 bad usage or no binaries.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${WAMUX_BIN_DIR:-$repo/target/release}"
sessions=5
sends=5
out=bench-results.json
client=auto

usage() {
  echo "usage: $0 [--sessions N] [--sends M] [--out FILE.json] [--python-client]" \
    "[-- wamux serve flags...]" >&2
  exit 2
}
number() {
  [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "$1 needs a number" >&2; usage; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) number "$1" "${2:-}"; sessions=$2; shift 2 ;;
    --sends) number "$1" "${2:-}"; sends=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --python-client) client=python; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ "$sessions" -ge 1 ] || { echo "--sessions must be at least 1" >&2; exit 2; }

for name in wamux wamux-worker wamux-fake-web; do
  if [ ! -x "$bin_dir/$name" ]; then
    echo "$bin_dir/$name is missing: build with" >&2
    echo "  cargo build --release -p wamux -p wamux-fake-web -p wamux-worker" >&2
    echo "or set WAMUX_BIN_DIR to the directory holding the binaries." >&2
    exit 2
  fi
done
command -v python3 > /dev/null || { echo "python3 is needed" >&2; exit 2; }

# exec: Ctrl-C and SIGTERM reach bench.py itself, which stops everything it started.
exec python3 "$repo/scripts/bench.py" --bin-dir "$bin_dir" --sessions "$sessions" \
  --sends "$sends" --out "$out" --client "$client" -- "$@"
