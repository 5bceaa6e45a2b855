// The overview's statistics: sessions by status, memory, messages, restarts and uptime.

import { $, setText } from './dom.js';
import { api } from './api.js';
import { bytesText, durationText } from './format.js';

const STATUSES = ['STARTING', 'SCAN_QR_CODE', 'WORKING', 'STOPPED', 'FAILED'];

export async function refreshStats() {
  const stats = await api('GET', '/api/stats');
  if (stats) renderStats(stats);
}

function renderStats(stats) {
  const sessions = stats.sessions || {};
  setText($('#stat-total'), `${sessions.total ?? 0} / ${sessions.maxSessions ?? '?'}`);
  for (const status of STATUSES) {
    setText($(`#stat-${status}`), String((sessions.byStatus || {})[status] ?? 0));
  }
  setText($('#stat-memory'), bytesText((stats.memory || {}).totalBytes ?? 0));
  setText($('#stat-sent'), String((stats.messages || {}).sent ?? 0));
  setText($('#stat-failed'), String((stats.messages || {}).failed ?? 0));
  setText($('#stat-queued'), String((stats.messages || {}).queued ?? 0));
  setText($('#stat-restarts'), String(stats.restarts ?? 0));
  if (stats.uptimeSeconds !== undefined) {
    setText($('#uptime'), `up ${durationText(stats.uptimeSeconds)}`);
  }
}

export function clearStats() {
  for (const node of document.querySelectorAll('.stat-value')) node.textContent = '';
  setText($('#uptime'), '');
}
