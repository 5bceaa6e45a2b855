#!/usr/bin/env bash
# Sets up and runs the gateway: `./scripts/run.sh [wamux serve flags…]`
# (default: the API and dashboard on http://127.0.0.1:8083, data in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --bins --locked
exec target/release/wamux serve "$@"
