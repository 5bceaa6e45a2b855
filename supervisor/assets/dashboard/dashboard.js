// What both dashboard pages run: the layout, the key prompt, the first load, the live feed
// and the periodic re-reads. Each page's entry module calls `start` with what it adds.
//
// The pages hold no data: everything comes from the API. Steps: load everything (or ask for
// the API key on 401, or retry on failure); show the content; follow /api/events, applying
// each event at once and scheduling a re-read of the lists, so that what is shown never
// depends on an event not missed; re-read every few seconds while the tab is visible too.

import { $, setText } from './dom.js';
import { errorText, hasKey, setupKeyPrompt } from './api.js';
import { setLive, startStream, stopStream } from './stream.js';
import { cancelRefresh, refreshAll, scheduleRefresh, setAuthorized, setLoaders } from './refresh.js';
import { announceAssignment, clearAssignments, refreshAssignments } from './assignments.js';
import { applyEvent, clearSessions, refreshSessions, renderSessions, tickSince } from './cards.js';
import { setupActions } from './actions.js';
import { mountLayout } from './layout.js';

const PERIODIC_REFRESH_MS = 10000;
const BOOT_RETRY_MS = 3000;

let bootTimer = null;
let page = null;

async function boot() {
  clearTimeout(bootTimer);
  const loading = $('#loading');
  loading.hidden = false;
  setText(loading, 'Loading…');
  try {
    await refreshAll();
  } catch (err) {
    if (err.status === 401) return;
    setText(loading, `Cannot load the dashboard: ${errorText(err)}. Trying again…`);
    bootTimer = setTimeout(boot, BOOT_RETRY_MS);
    return;
  }
  setAuthorized(true);
  loading.hidden = true;
  $('#key-panel').hidden = true;
  $('#content').hidden = false;
  $('#forget-key').hidden = !hasKey();
  startStream({ onEvent, onReconnect: resync });
}

/// The key was refused or forgotten: nothing of what was shown stays.
function onLock() {
  setAuthorized(false);
  stopStream();
  cancelRefresh();
  clearSessions();
  clearAssignments();
  for (const clear of page.clear) clear();
  setLive('locked', 'locked');
}

/// Events may have been missed: everything is read again.
function resync() {
  for (const again of page.resync) again();
  scheduleRefresh(0);
}

function onEvent(name, data) {
  if (name === 'lagged') {
    resync();
    return;
  }
  let event;
  try {
    event = JSON.parse(data);
  } catch (_) {
    scheduleRefresh();
    return;
  }
  if (!event || typeof event !== 'object') return;
  const type = event.type || name;
  applyEvent(type, event);
  if (type === 'assignment') announceAssignment(event);
  for (const listen of page.onEvent) listen(type, event);
  scheduleRefresh();
}

/// Starts the page. `loaders` are what it reads besides the sessions and the assignments,
/// `clear` what empties it when locked, `onEvent` what else hears each event `(type, event)`,
/// `resync` what else reads again when events may have been missed.
export function start({ loaders = [], clear = [], onEvent: listeners = [], resync: resyncs = [] } = {}) {
  page = { clear, onEvent: listeners, resync: resyncs };
  mountLayout();
  setLoaders([
    refreshSessions,
    async () => {
      await refreshAssignments();
      // The cards' badges show the assignments.
      renderSessions();
    },
    ...loaders,
  ]);
  setupKeyPrompt({ onLock, onUnlock: boot });
  setupActions();
  setInterval(tickSince, 5000);
  setInterval(() => {
    if (document.visibilityState === 'visible') scheduleRefresh(0);
  }, PERIODIC_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') scheduleRefresh(0);
  });
  boot();
}
