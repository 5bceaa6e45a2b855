#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, unit tests and the end-to-end tests
# (real chromedriver and Chromium against the fake WhatsApp Web; the multi-node ones also against
# a PostgreSQL server that scripts/postgres.sh starts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# What only the tests need, when missing: systemd-analyze, to verify the unit in deploy/systemd
# (systemd need not run), and PM2, pinned, in the project's own .cache/ (not the system's).
test_missing=()
command -v systemd-analyze >/dev/null 2>&1 || test_missing+=(systemd)
command -v npm >/dev/null 2>&1 || test_missing+=(nodejs npm)
if [ ${#test_missing[@]} -gt 0 ]; then
  echo "test: installing ${test_missing[*]} from apt" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${test_missing[@]}" >/dev/null
fi
pm2_major=7
pm2_dir=.cache/pm2
if [ "$(node -p "require('./$pm2_dir/node_modules/pm2/package.json').version.split('.')[0]" 2>/dev/null)" != "$pm2_major" ]; then
  echo "test: installing pm2@$pm2_major from npm into $pm2_dir" >&2
  npm install --prefix "$pm2_dir" --no-audit --no-fund --loglevel=error "pm2@$pm2_major" >/dev/null
fi
export PM2_BIN="$PWD/$pm2_dir/node_modules/.bin/pm2"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the built binaries.
cargo build --workspace --bins --locked
# The multi-node tests (tests/tests/cluster.rs) need PostgreSQL: a server of their own, up from
# here until this script exits (scripts/postgres.sh sets the EXIT trap that stops it).
source scripts/postgres.sh
# The supervisor's unit tests once more with the store on that server, each test on a database
# of its own: the same queries, checked on both backends (in seconds).
WAMUX_TEST_STORE="$WAMUX_TEST_POSTGRES_URL" cargo test -p wamux --lib --locked -q
# With cargo-nextest (on the project's machines), test binaries run side by side with at most
# two Chromium-starting tests at a time (.config/nextest.toml); without it, one binary after the
# other. Either way one run shows every failing test, not only the first.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast -- --test-threads 2
fi
