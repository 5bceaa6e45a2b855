// wamux under PM2, for hosts that manage their services with it (as the Node system wamux
// replaces did): `pm2 start deploy/pm2/ecosystem.config.js`, then `pm2 logs wamux`,
// `pm2 save` and `pm2 startup`. Settings come from the environment of that `pm2 start`
// (WAMUX_BIN, WAMUX_LISTEN, WAMUX_DATA_DIR, WAMUX_API_KEY and every other WAMUX_* variable).
'use strict';

const os = require('os');
const path = require('path');

// Only variables that have a value: an empty WAMUX_RECYCLE_AFTER, say, would not parse.
const defined = (vars) =>
  Object.fromEntries(Object.entries(vars).filter(([, value]) => value !== undefined && value !== ''));

module.exports = {
  apps: [
    {
      name: 'wamux',
      // The Rust binary itself, not a Node script.
      script: process.env.WAMUX_BIN || '/usr/local/bin/wamux',
      args: 'serve',
      interpreter: 'none',
      exec_mode: 'fork',
      instances: 1,

      autorestart: true,
      // A crashed daemon comes back after 1 s, then 1.5 times longer each time up to 15 s,
      // and after 1 s again once it has stayed up for 30 s.
      exp_backoff_restart_delay: 1000,
      // PM2 measures the daemon's own memory, tens of MB, not its browsers'. Each session's
      // browser is held to WAMUX_MAX_SESSION_MEMORY by wamux itself (the old system's 800M
      // applied to everything at once); this only catches a leak in the daemon.
      max_memory_restart: '1G',

      // `pm2 stop` sends SIGINT and waits this long before SIGKILL: longer than the daemon's
      // own clean stop (at most 25 s: the workers' 10 s grace and a 15 s margin).
      kill_timeout: 40000,
      // The signal goes to the daemon alone, which stops each worker and its browser in
      // order; PM2's tree kill would signal every chromedriver and Chromium at once and the
      // workers would take those deaths for crashes. Should the daemon still be killed, its
      // workers close their browsers themselves, and the next start sweeps any leftover.
      treekill: false,

      // The daemon logs to stderr (PM2_HOME/logs/wamux-error.log, which `pm2 logs wamux`
      // shows beside stdout's wamux-out.log): file names without a "-ID" suffix, so they
      // stay the same across `pm2 delete` and `pm2 start`. Its lines carry their own
      // timestamps, so PM2 adds none.
      merge_logs: true,
      time: false,

      env: defined({
        WAMUX_LISTEN: process.env.WAMUX_LISTEN || '127.0.0.1:8083',
        WAMUX_DATA_DIR: process.env.WAMUX_DATA_DIR || path.join(os.homedir(), '.local', 'share', 'wamux'),
        WAMUX_API_KEY: process.env.WAMUX_API_KEY,
        // What the old system advised (a restart every 6 h, 800M), per session.
        WAMUX_MAX_SESSION_MEMORY: process.env.WAMUX_MAX_SESSION_MEMORY || '800M',
        WAMUX_RECYCLE_AFTER: process.env.WAMUX_RECYCLE_AFTER || '6h',
      }),
    },
  ],
};
