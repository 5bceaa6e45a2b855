#!/usr/bin/env bash
# Installs wamux on a Debian server: release binaries `wamux` and `wamux-worker` in
# PREFIX/bin, Chromium and chromedriver from apt when missing, and, for systemd, the user
# `wamux`, the unit and /etc/wamux/wamux.env. Idempotent: run it again after an update to
# install the new binaries. It starts and restarts nothing; it prints what to run next.
#
#   ./scripts/install.sh [--prefix DIR] [--no-systemd]
#
# --prefix DIR    where the binaries go (DIR/bin), /usr/local by default
# --no-systemd    binaries and browsers only: for PM2 (deploy/pm2/ecosystem.config.js)
#
# Run it as yourself (it builds with your cargo and uses sudo to install) or as root.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
with_systemd=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --no-systemd) with_systemd=no; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in
  /*) ;;
  *) echo "install: --prefix must be an absolute path, not $prefix" >&2; exit 2 ;;
esac

# Chromium, chromium-driver and a C compiler from apt when missing; cargo on PATH; as_root.
source scripts/setup.sh

cargo build --release --locked --bins
bin="$prefix/bin"
as_root install -d -m 0755 "$bin"
# install(1) replaces the files rather than writing into them, so a running daemon keeps the
# binaries it started with until it is restarted.
as_root install -m 0755 target/release/wamux target/release/wamux-worker "$bin/"
echo "install: $bin/wamux and $bin/wamux-worker"

if [ "$with_systemd" = no ]; then
  cat <<EOF

Next, with PM2 (run it as a user other than root, so that Chromium keeps its sandbox):
  WAMUX_BIN=$bin/wamux pm2 start deploy/pm2/ecosystem.config.js
  pm2 logs wamux
  pm2 save && pm2 startup     # start it again at boot
EOF
  exit 0
fi

if ! id -u wamux >/dev/null 2>&1; then
  as_root useradd --system --user-group --home-dir /var/lib/wamux --no-create-home \
    --shell /usr/sbin/nologin --comment "wamux WhatsApp Web gateway" wamux
  echo "install: created the system user wamux"
fi

unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s#^ExecStart=/usr/local/bin/wamux #ExecStart=$bin/wamux #" deploy/systemd/wamux.service >"$unit"
as_root install -m 0644 "$unit" /etc/systemd/system/wamux.service
echo "install: /etc/systemd/system/wamux.service"

# The configuration is the administrator's once it exists: never overwritten.
if as_root test -e /etc/wamux/wamux.env; then
  echo "install: kept the existing /etc/wamux/wamux.env"
else
  as_root install -d -m 0755 /etc/wamux
  as_root install -m 0640 -o root -g wamux deploy/systemd/wamux.env.example /etc/wamux/wamux.env
  echo "install: /etc/wamux/wamux.env (every setting commented out: the defaults)"
fi

# Without a running systemd (a container, a chroot) there is nothing to reload.
if [ -d /run/systemd/system ]; then
  as_root systemctl daemon-reload
fi

cat <<EOF

Next:
  sudoedit /etc/wamux/wamux.env          # optional: address, API key, limits
  sudo systemctl enable --now wamux      # start it now and at every boot
  journalctl -u wamux -f                 # its log; | grep ID for one session
EOF
if [ -d /run/systemd/system ] && systemctl is-active --quiet wamux; then
  echo "  sudo systemctl restart wamux           # it is running: this makes it use the new binaries"
fi
