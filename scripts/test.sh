#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, unit tests and the end-to-end tests
# (real chromedriver and Chromium against the fake WhatsApp Web).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the built binaries.
cargo build --workspace --bins --locked
cargo test --workspace --locked -- --test-threads 2
