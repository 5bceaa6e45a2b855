// How values from the API read on the page: phone numbers, sizes, durations, times, statuses.

export function phoneText(number) {
  if (!number) return '';
  const s = String(number);
  return s.startsWith('+') ? s : `+${s}`;
}

export function bytesText(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function durationText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function sinceText(ms) {
  if (!ms) return '';
  return `for ${durationText((Date.now() - ms) / 1000)}`;
}

export function timeText(ms) {
  const d = ms ? new Date(ms) : new Date();
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/// The time of day for a moment of today, with the date before it for an older one.
export function dateTimeText(ms) {
  const d = new Date(ms);
  const time = timeText(ms);
  return d.toDateString() === new Date().toDateString()
    ? time
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

export function statusLabel(status) {
  return status ? String(status).replace(/_/g, ' ') : 'UNKNOWN';
}
