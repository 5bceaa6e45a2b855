// Re-reading what the page shows from the API. Each event schedules a re-read, so that what is
// shown never depends on an event not missed; a burst of them makes one re-read, and a re-read
// asked for while one runs follows it.

import { toast } from './dom.js';
import { errorText } from './api.js';

const REFRESH_DEBOUNCE_MS = 150;

/** what a re-read runs, all at once: functions returning promises */
let loaders = [];
/** false while the page is locked or not loaded yet: nothing to re-read then */
let authorized = false;
let timer = null;
let running = null;
let again = false;

export function setLoaders(list) {
  loaders = list;
}

export function setAuthorized(value) {
  authorized = value;
}

/// Runs every loader; rejects with the first failure once all have ended.
export async function refreshAll() {
  const results = await Promise.allSettled(loaders.map((load) => load()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/// Re-reads everything soon; many calls in a burst make one refresh.
export function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
  if (!authorized) return;
  if (timer) return;
  timer = setTimeout(async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = refreshAll()
      .catch((err) => {
        // A gateway that is away shows in the live indicator; other failures are shown.
        if (err.status !== 401 && err.status !== 0) toast(`Refresh failed: ${errorText(err)}`, 'error');
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          scheduleRefresh();
        }
      });
  }, delay);
}

export function cancelRefresh() {
  clearTimeout(timer);
  timer = null;
}
