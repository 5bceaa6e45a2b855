// The wamux dashboard: `/` (overview) and `/sessions` (every session).
//
// The pages hold no data: everything comes from the API, with the API key (kept in this tab's
// sessionStorage) as `X-Api-Key` when the daemon asks for one. The event stream is read with
// fetch() so that it can carry the key too; each event updates what it concerns at once and
// schedules a re-read of the lists, so what is shown never depends on an event not missed.
//
// Every string from outside (ids, numbers, names, error texts, anything from the API) goes
// into the page as text (textContent, createTextNode, attributes), never as markup.
'use strict';

(() => {
  const KEY_STORAGE = 'wamux.apiKey';
  const STATUSES = ['STARTING', 'SCAN_QR_CODE', 'WORKING', 'STOPPED', 'FAILED'];
  const STATUS_HINT = {
    STARTING: 'The browser is starting.',
    SCAN_QR_CODE: 'Waiting for the phone to scan the QR code.',
    WORKING: 'Linked and ready to send.',
    STOPPED: 'Stopped: press Start to run it again.',
    FAILED: 'Failed: see the last error, then Start or Restart it.',
  };
  const ASSIGNMENT_LABEL = { sells: 'Sales', coordination: 'Coordination' };
  const REFRESH_DEBOUNCE_MS = 150;
  const PERIODIC_REFRESH_MS = 10000;
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const ACTIVITY_MAX = 40;

  const page = document.body.dataset.page || 'home';
  const $ = (selector, root = document) => root.querySelector(selector);

  const state = {
    key: sessionStorage.getItem(KEY_STORAGE) || '',
    authorized: false,
    /** id -> session view, as the API gives it */
    sessions: new Map(),
    /** id -> card element */
    cards: new Map(),
    /** id -> {qr, png}: the QR code on show */
    qrs: new Map(),
    /** id -> sequence number of the latest QR request */
    qrSeq: new Map(),
    /** ids whose QR code is being fetched */
    qrLoading: new Set(),
    /** counts deletions seen here, so that a list read before one is not applied after it */
    epoch: 0,
    /** ids of the sessions created from this page view */
    createdHere: new Set(),
    /** id -> text of the action in progress */
    busy: new Map(),
    assignments: null,
    stats: null,
    listStats: null,
    refreshTimer: null,
    refreshing: null,
    refreshAgain: false,
    stream: null,
    streamGeneration: 0,
    bootTimer: null,
  };

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function phoneText(number) {
    if (!number) return '';
    const s = String(number);
    return s.startsWith('+') ? s : `+${s}`;
  }

  function bytesText(bytes) {
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

  function durationText(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function sinceText(ms) {
    if (!ms) return '';
    return `for ${durationText((Date.now() - ms) / 1000)}`;
  }

  function timeText(ms) {
    const d = ms ? new Date(ms) : new Date();
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  const sessionPath = (id, rest = '') => `/api/sessions/${encodeURIComponent(id)}${rest}`;

  // ---------------------------------------------------------------- toasts

  function toast(message, kind = 'info') {
    const box = $('#toasts');
    if (!box) return;
    // The same message twice in a row is shown once.
    for (const existing of box.children) {
      if (existing.dataset.message === message) {
        existing.remove();
      }
    }
    const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
    const item = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      el('span', { class: 'toast-text', text: message }), close);
    item.dataset.message = message;
    close.addEventListener('click', () => item.remove());
    box.prepend(item);
    while (box.children.length > 5) box.lastElementChild.remove();
    setTimeout(() => item.remove(), kind === 'error' ? 20000 : 6000);
  }

  function errorText(err) {
    if (err instanceof ApiError) {
      return err.code && err.code !== 'network' ? `${err.message} (${err.code})` : err.message;
    }
    return err && err.message ? err.message : String(err);
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
  }

  function headers(extra = {}) {
    const h = { Accept: 'application/json', ...extra };
    if (state.key) h['X-Api-Key'] = state.key;
    return h;
  }

  async function api(method, path, body) {
    const usedKey = state.key;
    const init = { method, headers: headers(), cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, 'network', `The gateway cannot be reached (${err.message || err})`);
    }
    const text = await response.text().catch(() => '');
    if (usedKey !== state.key) {
      // The key was changed or forgotten meanwhile: this answer belongs to no one now.
      throw new ApiError(401, 'unauthorized', 'The API key changed while this request was on its way.');
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (response.ok) return data;
    const error = data && data.error ? data.error : {};
    const failure = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || (text && !data ? text.slice(0, 300) : response.statusText),
    );
    if (response.status === 401) locked(Boolean(usedKey));
    throw failure;
  }

  // ---------------------------------------------------------------- the API key

  function locked(refused) {
    state.authorized = false;
    state.key = '';
    sessionStorage.removeItem(KEY_STORAGE);
    stopStream();
    clearData();
    $('#content').hidden = true;
    $('#loading').hidden = true;
    $('#forget-key').hidden = true;
    setLive('locked', 'locked');
    const panel = $('#key-panel');
    const message = $('#key-error');
    if (refused) {
      message.textContent = 'The gateway refused that key. Check it and enter it again.';
      message.hidden = false;
    } else {
      message.textContent = '';
      message.hidden = true;
    }
    const wasHidden = panel.hidden;
    panel.hidden = false;
    const input = $('#key-input');
    if (wasHidden || refused) {
      input.value = '';
      input.focus();
    }
  }

  function setupKeyForm() {
    $('#key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('#key-input').value.trim();
      if (!key) return;
      state.key = key;
      sessionStorage.setItem(KEY_STORAGE, key);
      $('#key-panel').hidden = true;
      $('#key-input').value = '';
      boot();
    });
    $('#forget-key').addEventListener('click', () => {
      locked(false);
    });
  }

  // ---------------------------------------------------------------- start and refresh

  async function boot() {
    clearTimeout(state.bootTimer);
    $('#loading').hidden = false;
    setText($('#loading'), 'Loading…');
    try {
      await refreshAll();
    } catch (err) {
      if (err.status === 401) return;
      setText($('#loading'), `Cannot load the dashboard: ${errorText(err)}. Trying again…`);
      state.bootTimer = setTimeout(boot, 3000);
      return;
    }
    state.authorized = true;
    $('#loading').hidden = true;
    $('#key-panel').hidden = true;
    $('#content').hidden = false;
    $('#forget-key').hidden = !state.key;
    startStream();
  }

  async function refreshAll() {
    const jobs = [refreshSessions(), refreshAssignments()];
    if (page === 'home') jobs.push(refreshStats());
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function refreshSessions() {
    const epoch = state.epoch;
    const data = await api('GET', '/api/sessions');
    if (epoch !== state.epoch) {
      // A session was deleted while this list was on its way: it may still be in it.
      scheduleRefresh();
      return;
    }
    const seen = new Set();
    for (const view of (data && data.sessions) || []) {
      seen.add(view.sessionId);
      state.sessions.set(view.sessionId, view);
    }
    for (const id of [...state.sessions.keys()]) {
      if (!seen.has(id)) forgetSession(id);
    }
    state.listStats = (data && data.stats) || null;
    renderSessions();
  }

  async function refreshStats() {
    state.stats = await api('GET', '/api/stats');
    renderStats();
  }

  async function refreshAssignments() {
    const errorLine = $('#assignments-error');
    try {
      state.assignments = await api('GET', '/api/current-assignments');
      errorLine.hidden = true;
    } catch (err) {
      if (err.status === 401) throw err;
      state.assignments = null;
      errorLine.textContent = `Assignments cannot be read: ${errorText(err)}`;
      errorLine.hidden = false;
    }
    renderAssignments();
    renderSessions();
  }

  /// Re-reads everything soon; many calls in a burst make one refresh.
  function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
    if (!state.authorized) return;
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(async () => {
      state.refreshTimer = null;
      if (state.refreshing) {
        state.refreshAgain = true;
        return;
      }
      state.refreshing = refreshAll()
        .catch((err) => {
          // A gateway that is away shows in the live indicator; other failures are shown.
          if (err.status !== 401 && err.status !== 0) toast(`Refresh failed: ${errorText(err)}`, 'error');
        })
        .finally(() => {
          state.refreshing = null;
          if (state.refreshAgain) {
            state.refreshAgain = false;
            scheduleRefresh();
          }
        });
    }, delay);
  }

  function clearData() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = null;
    state.sessions.clear();
    state.qrs.clear();
    state.busy.clear();
    state.assignments = null;
    state.stats = null;
    state.listStats = null;
    for (const card of state.cards.values()) card.remove();
    state.cards.clear();
    const activity = $('#activity');
    if (activity) activity.replaceChildren();
    for (const node of document.querySelectorAll('.stat-value')) node.textContent = '';
    for (const box of document.querySelectorAll('.assignment-body')) box.replaceChildren();
    setText($('#sessions-summary'), '');
    setText($('#uptime'), '');
  }

  function forgetSession(id) {
    state.epoch += 1;
    state.sessions.delete(id);
    state.qrs.delete(id);
    state.createdHere.delete(id);
    const card = state.cards.get(id);
    if (card) card.remove();
    state.cards.delete(id);
  }

  // ---------------------------------------------------------------- statistics (home)

  function renderStats() {
    const stats = state.stats;
    if (!stats) return;
    const sessions = stats.sessions || {};
    setText($('#stat-total'), `${sessions.total ?? 0} / ${sessions.maxSessions ?? '?'}`);
    for (const status of STATUSES) {
      setText($(`#stat-${status}`), String((sessions.byStatus || {})[status] ?? 0));
    }
    setText($('#stat-memory'), bytesText((stats.memory || {}).totalBytes ?? 0));
    setText($('#stat-sent'), String((stats.messages || {}).sent ?? 0));
    setText($('#stat-failed'), String((stats.messages || {}).failed ?? 0));
    setText($('#stat-restarts'), String(stats.restarts ?? 0));
    if (stats.uptimeSeconds !== undefined) {
      setText($('#uptime'), `up ${durationText(stats.uptimeSeconds)}`);
    }
  }

  // ---------------------------------------------------------------- assignments

  function assignedTypes(id) {
    const types = [];
    const a = state.assignments;
    if (!a) return types;
    for (const type of ['sells', 'coordination']) {
      if (a[type] && a[type].sessionId === id) types.push(type);
    }
    return types;
  }

  function renderAssignments() {
    for (const type of ['sells', 'coordination']) {
      const box = $(`#assignment-${type}`);
      if (!box) continue;
      const body = $('.assignment-body', box);
      const a = state.assignments ? state.assignments[type] : null;
      if (!a) {
        box.dataset.assigned = 'false';
        box.removeAttribute('data-assigned-session');
        box.removeAttribute('data-status');
        body.replaceChildren(el('p', { class: 'empty muted', text: state.assignments ? 'Not assigned' : '—' }));
        continue;
      }
      box.dataset.assigned = 'true';
      box.dataset.assignedSession = a.sessionId || '';
      box.dataset.status = a.status || '';
      body.replaceChildren(
        el('p', { class: 'phone', text: phoneText(a.phoneNumber) || '(no number)' }),
        el('p', { class: 'assignment-meta' },
          el('span', { class: 'session', text: `session ${a.sessionId}` }),
          ' ',
          el('span', { class: 'status', 'data-status': a.status || '', text: statusLabel(a.status) })),
        a.url ? el('p', { class: 'url', title: 'Send-message URL written to the Laravel .env', text: a.url }) : null,
      );
    }
  }

  // ---------------------------------------------------------------- session cards

  function statusLabel(status) {
    return status ? String(status).replace(/_/g, ' ') : 'UNKNOWN';
  }

  function needsAttention(view) {
    return state.createdHere.has(view.sessionId)
      || view.status === 'SCAN_QR_CODE'
      || view.status === 'FAILED';
  }

  function filterText() {
    const input = $('#filter');
    return input ? input.value.trim().toLowerCase() : '';
  }

  function matchesFilter(view, needle) {
    if (!needle) return true;
    const hay = [view.sessionId, view.phoneNumber, phoneText(view.phoneNumber), view.status, statusLabel(view.status)]
      .filter(Boolean).join(' ').toLowerCase();
    return hay.includes(needle);
  }

  function renderSessions() {
    const list = $('#session-list');
    if (!list) return;
    const all = [...state.sessions.values()].sort((a, b) =>
      (a.createdAt || 0) - (b.createdAt || 0) || String(a.sessionId).localeCompare(String(b.sessionId)));
    const needle = filterText();
    const shown = all.filter((v) => (page === 'home' ? needsAttention(v) : matchesFilter(v, needle)));
    const shownIds = new Set(shown.map((v) => v.sessionId));
    for (const [id, card] of state.cards) {
      if (!shownIds.has(id)) {
        card.remove();
        state.cards.delete(id);
      }
    }
    shown.forEach((view, index) => {
      let card = state.cards.get(view.sessionId);
      if (!card) {
        card = buildCard(view.sessionId);
        state.cards.set(view.sessionId, card);
      }
      updateCard(card, view);
      if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
    });
    const empty = $('#sessions-empty');
    if (empty) {
      empty.hidden = shown.length > 0;
      if (page === 'sessions' && all.length > 0 && shown.length === 0) {
        empty.textContent = 'No session matches the filter.';
      } else if (page === 'sessions') {
        empty.textContent = 'No sessions yet. Press “New session” and scan its QR code with the phone.';
      }
    }
    const summary = $('#sessions-summary');
    if (summary && state.listStats) {
      const s = state.listStats;
      const working = (s.byStatus || {}).WORKING ?? 0;
      setText(summary, `${s.total ?? all.length} of at most ${s.maxSessions ?? '?'} · ${working} working`);
    }
  }

  const ACTIONS = [
    ['start', 'Start'],
    ['stop', 'Stop'],
    ['restart', 'Restart'],
    ['logout', 'Log out'],
    ['assign-sells', 'Assign to sales'],
    ['assign-coordination', 'Assign to coordination'],
    ['delete', 'Delete'],
  ];

  function buildCard(id) {
    const fact = (label, cls) => el('div', { class: 'fact' },
      el('dt', { text: label }), el('dd', { class: cls }));
    const card = el('article', { class: 'card session', 'data-session-id': id },
      el('header', { class: 'card-head' },
        el('h3', { class: 'session-id', text: id }),
        el('span', { class: 'badges' }),
        el('span', { class: 'status' })),
      el('p', { class: 'status-hint muted' }),
      el('dl', { class: 'facts' },
        fact('Phone', 'phone'),
        fact('Memory', 'memory'),
        fact('Restarts', 'restarts'),
        fact('In this status', 'since')),
      el('div', { class: 'qr-box', hidden: true },
        el('img', { class: 'qr', alt: `QR code to link session ${id}`, width: 264, height: 264 }),
        el('p', { class: 'muted small', text: 'On the phone: WhatsApp → Linked devices → Link a device, then scan this code.' })),
      el('p', { class: 'pairing', hidden: true },
        'Pairing code: ', el('strong', { class: 'pairing-code' })),
      el('div', { class: 'error-box', hidden: true },
        el('span', { class: 'error-label', text: 'Last error: ' }),
        el('span', { class: 'last-error' })),
      el('p', { class: 'busy-text', hidden: true }),
      el('div', { class: 'actions' },
        ...ACTIONS.map(([action, label]) => el('button', {
          type: 'button',
          'data-action': action,
          class: action === 'delete' ? 'danger' : action.startsWith('assign-') ? 'assign' : undefined,
          text: label,
        }))));
    return card;
  }

  function updateCard(card, view) {
    const id = view.sessionId;
    card.dataset.status = view.status || '';
    const status = $('.status', card);
    status.dataset.status = view.status || '';
    setText(status, statusLabel(view.status));
    setText($('.status-hint', card), STATUS_HINT[view.status] || '');
    const phone = $('.phone', card);
    setText(phone, view.phoneNumber ? phoneText(view.phoneNumber) : 'not linked');
    phone.classList.toggle('muted', !view.phoneNumber);
    setText($('.memory', card), bytesText(view.memoryBytes));
    setText($('.restarts', card), String(view.restarts ?? 0));
    const since = $('.since', card);
    since.dataset.since = String(view.statusSince || '');
    setText(since, sinceText(view.statusSince));

    const badges = $('.badges', card);
    const types = assignedTypes(id);
    if (badges.dataset.types !== types.join(',')) {
      badges.dataset.types = types.join(',');
      badges.replaceChildren(...types.map((t) =>
        el('span', { class: `badge badge-${t}`, 'data-assignment': t, text: ASSIGNMENT_LABEL[t] })));
    }

    const errorBox = $('.error-box', card);
    if (view.lastError) {
      setText($('.last-error', card), String(view.lastError));
      errorBox.hidden = false;
      // An error from before the session last got going is history, not an alarm.
      errorBox.classList.toggle('past', view.status === 'WORKING' || view.status === 'SCAN_QR_CODE');
    } else {
      setText($('.last-error', card), '');
      errorBox.hidden = true;
    }

    const pairing = $('.pairing', card);
    if (view.pairingCode && view.status !== 'WORKING') {
      setText($('.pairing-code', card), String(view.pairingCode));
      pairing.hidden = false;
    } else {
      pairing.hidden = true;
    }

    if (view.qrAvailable) {
      if (!state.qrs.has(id)) loadQr(id, false);
    } else {
      state.qrs.delete(id);
    }
    showQr(card, view);

    const busy = state.busy.get(id);
    card.classList.toggle('busy', Boolean(busy));
    card.setAttribute('aria-busy', busy ? 'true' : 'false');
    const busyText = $('.busy-text', card);
    setText(busyText, busy || '');
    busyText.hidden = !busy;
    const linked = Boolean(view.phoneNumber);
    const running = view.status !== 'STOPPED' && view.status !== 'FAILED';
    const enabled = {
      start: !running,
      stop: running,
      restart: true,
      logout: linked,
      'assign-sells': linked && !types.includes('sells'),
      'assign-coordination': linked && !types.includes('coordination'),
      delete: true,
    };
    for (const button of card.querySelectorAll('button[data-action]')) {
      const action = button.dataset.action;
      button.disabled = Boolean(busy) || !enabled[action];
      if (action.startsWith('assign-')) {
        const type = action.slice('assign-'.length);
        button.title = !linked ? 'Link a phone first' : types.includes(type)
          ? `Already the ${ASSIGNMENT_LABEL[type].toLowerCase()} number` : '';
      }
    }
  }

  function showQr(card, view) {
    const box = $('.qr-box', card);
    const img = $('img.qr', card);
    const qr = state.qrs.get(view.sessionId);
    if (qr && view.qrAvailable) {
      const src = `data:image/png;base64,${qr.png}`;
      if (img.getAttribute('src') !== src) img.setAttribute('src', src);
      box.hidden = false;
    } else {
      box.hidden = true;
      if (img.hasAttribute('src')) img.removeAttribute('src');
    }
  }

  async function loadQr(id, force) {
    if (!force && state.qrLoading.has(id)) return;
    const seq = (state.qrSeq.get(id) || 0) + 1;
    state.qrSeq.set(id, seq);
    state.qrLoading.add(id);
    try {
      const data = await api('GET', sessionPath(id, '/qr'));
      if (state.qrSeq.get(id) !== seq) return;
      if (data && data.png) state.qrs.set(id, { qr: data.qr, png: data.png });
      else state.qrs.delete(id);
    } catch (err) {
      if (state.qrSeq.get(id) !== seq) return;
      state.qrs.delete(id);
      if (err.status !== 404 && err.status !== 401 && err.status !== 0) {
        toast(`Cannot show the QR code of ${id}: ${errorText(err)}`, 'error');
      }
    } finally {
      if (state.qrSeq.get(id) === seq) state.qrLoading.delete(id);
    }
    const card = state.cards.get(id);
    const view = state.sessions.get(id);
    if (card && view) showQr(card, view);
  }

  function rerenderCard(id) {
    const card = state.cards.get(id);
    const view = state.sessions.get(id);
    if (card && view) updateCard(card, view);
  }

  // ---------------------------------------------------------------- actions

  const DONE = {
    start: 'started',
    stop: 'stopped',
    restart: 'restarting',
    logout: 'logged out: a new QR code follows',
  };

  function confirmDialog(title, text, okLabel) {
    const dialog = $('#confirm');
    if (dialog.open) return Promise.resolve(false);
    setText($('#confirm-title'), title);
    setText($('#confirm-text'), text);
    setText($('#confirm-ok'), okLabel);
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
      $('#confirm-cancel').focus();
    });
  }

  async function runAction(id, action) {
    if (state.busy.has(id)) return;
    if (action === 'delete') {
      const ok = await confirmDialog(`Delete session “${id}”?`,
        'Its worker, browser and profile are removed. The phone has to scan a new QR code to use it again.',
        'Delete');
      if (!ok) return;
    } else if (action === 'logout') {
      const ok = await confirmDialog(`Log out session “${id}”?`,
        'The phone is unlinked and the profile wiped; a new QR code follows.',
        'Log out');
      if (!ok) return;
    }
    const busyText = {
      delete: 'Deleting…', start: 'Starting…', stop: 'Stopping…', restart: 'Restarting…',
      logout: 'Logging out…', 'assign-sells': 'Assigning…', 'assign-coordination': 'Assigning…',
    }[action] || 'Working…';
    state.busy.set(id, busyText);
    rerenderCard(id);
    try {
      if (action === 'delete') {
        await api('DELETE', sessionPath(id));
        forgetSession(id);
        renderSessions();
        toast(`Session ${id} deleted.`, 'ok');
      } else if (action.startsWith('assign-')) {
        const type = action.slice('assign-'.length);
        const result = await api('POST', '/api/assign-number', { sessionId: id, type });
        const number = phoneText(result && result.phoneNumber);
        const env = result && result.envUpdated ? ' The Laravel .env was updated.' : '';
        toast(`${ASSIGNMENT_LABEL[type]} now uses ${number || id} (session ${id}).${env}`, 'ok');
        await refreshAssignments();
      } else {
        const view = await api('POST', sessionPath(id, `/${action}`));
        if (view && view.sessionId === id && state.sessions.has(id)) {
          state.sessions.set(id, { ...state.sessions.get(id), ...view });
        }
        toast(`Session ${id}: ${DONE[action] || 'done'}.`, 'ok');
      }
    } catch (err) {
      if (err.status !== 401) {
        const verb = (ACTIONS.find(([a]) => a === action) || [action, action])[1].toLowerCase();
        toast(`Could not ${verb} session ${id}: ${errorText(err)}`, 'error');
      }
    } finally {
      state.busy.delete(id);
      rerenderCard(id);
      scheduleRefresh();
    }
  }

  function setupActions() {
    $('#session-list').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button || button.disabled) return;
      const card = button.closest('[data-session-id]');
      if (!card) return;
      runAction(card.dataset.sessionId, button.dataset.action);
    });

    $('#new-session-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = $('#new-session-id');
      const button = $('#new-session');
      const id = input.value.trim();
      button.disabled = true;
      try {
        const created = await api('POST', '/api/sessions', id ? { sessionId: id } : {});
        const newId = created.sessionId;
        input.value = '';
        state.createdHere.add(newId);
        if (!state.sessions.has(newId)) {
          state.sessions.set(newId, {
            sessionId: newId, status: 'STARTING', statusSince: Date.now(), qrAvailable: false,
            phoneNumber: null, lastError: null, restarts: 0, memoryBytes: null, createdAt: Date.now(),
          });
        }
        renderSessions();
        const card = state.cards.get(newId);
        if (card) card.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
        toast(`Session ${newId} created: its QR code appears in a few seconds.`, 'ok');
        scheduleRefresh();
      } catch (err) {
        if (err.status !== 401) toast(`Could not create the session: ${errorText(err)}`, 'error');
      } finally {
        button.disabled = false;
      }
    });

    $('#restore').addEventListener('click', async () => {
      const button = $('#restore');
      button.disabled = true;
      try {
        const result = await api('POST', '/api/sessions/restore');
        const started = (result && result.started) || [];
        toast(started.length
          ? `Starting ${started.length} session${started.length === 1 ? '' : 's'}: ${started.join(', ')}.`
          : 'No stopped or failed session to restore.', 'ok');
        scheduleRefresh();
      } catch (err) {
        if (err.status !== 401) toast(`Could not restore the sessions: ${errorText(err)}`, 'error');
      } finally {
        button.disabled = false;
      }
    });

    const filter = $('#filter');
    if (filter) filter.addEventListener('input', () => renderSessions());
  }

  // ---------------------------------------------------------------- live events

  function setLive(stateName, text) {
    const live = $('#live');
    if (!live) return;
    live.dataset.state = stateName;
    setText(live, text);
    document.body.dataset.live = stateName;
  }

  function stopStream() {
    state.streamGeneration += 1;
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  /// An SSE parser: feed it text as it arrives; it calls `dispatch(name, data)` per event.
  function sseParser(dispatch) {
    let buffer = '';
    let data = [];
    let name = '';
    const terminator = /\r\n|\r|\n/g;
    return (chunk) => {
      buffer += chunk;
      let start = 0;
      for (;;) {
        terminator.lastIndex = start;
        const match = terminator.exec(buffer);
        if (!match) break;
        // A lone CR at the very end may be the first half of CRLF: wait for more.
        if (match[0] === '\r' && match.index === buffer.length - 1) break;
        const line = buffer.slice(start, match.index);
        start = match.index + match[0].length;
        if (line === '') {
          if (data.length) dispatch(name || 'message', data.join('\n'));
          data = [];
          name = '';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') name = value;
      }
      buffer = buffer.slice(start);
    };
  }

  async function startStream() {
    stopStream();
    const generation = state.streamGeneration;
    let delay = RECONNECT_FIRST_MS;
    let first = true;
    while (generation === state.streamGeneration && state.authorized) {
      const controller = new AbortController();
      state.stream = controller;
      setLive('connecting', first ? 'connecting…' : 'reconnecting…');
      try {
        const response = await fetch('/api/events', {
          headers: headers({ Accept: 'text/event-stream' }),
          cache: 'no-store',
          signal: controller.signal,
        });
        if (response.status === 401) {
          if (generation === state.streamGeneration) locked(Boolean(state.key));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        setLive('live', 'live');
        delay = RECONNECT_FIRST_MS;
        // Anything may have happened while the stream was down.
        if (!first) scheduleRefresh(0);
        first = false;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const feed = sseParser(onEvent);
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (generation !== state.streamGeneration) return;
          feed(decoder.decode(value, { stream: true }));
        }
      } catch (err) {
        if (generation !== state.streamGeneration) return;
      }
      if (generation !== state.streamGeneration) return;
      first = false;
      const wait = Math.min(delay, RECONNECT_MAX_MS);
      setLive('offline', `offline, reconnecting in ${Math.ceil(wait / 1000)} s`);
      await sleep(wait * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    }
  }

  function onEvent(name, data) {
    if (name === 'lagged') {
      scheduleRefresh(0);
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
    const id = event.sessionId;
    const view = id ? state.sessions.get(id) : undefined;
    switch (type) {
      case 'status':
        if (view) {
          view.status = event.status;
          view.statusSince = event.at || Date.now();
          if (event.lastError) view.lastError = event.lastError;
          if (event.status !== 'SCAN_QR_CODE') {
            view.qrAvailable = false;
            state.qrs.delete(id);
          }
        }
        break;
      case 'qr':
        if (view) view.qrAvailable = true;
        if (id) loadQr(id, true);
        break;
      case 'ready':
        if (view) {
          view.phoneNumber = event.phoneNumber || view.phoneNumber;
          view.qrAvailable = false;
          state.qrs.delete(id);
        }
        break;
      case 'deleted':
        if (id) {
          forgetSession(id);
          renderSessions();
        }
        break;
      case 'assignment': {
        const label = ASSIGNMENT_LABEL[event.assignmentType] || event.assignmentType || 'A number';
        const reason = event.reason ? ` (${event.reason})` : '';
        toast(`${label} now uses ${phoneText(event.phoneNumber) || id} (session ${id})${reason}.`, 'info');
        break;
      }
      default:
        break;
    }
    if (id && view) rerenderCard(id);
    if (type !== 'qr') addActivity(type, event);
    scheduleRefresh();
  }

  function activityText(type, e) {
    switch (type) {
      case 'created': return 'created';
      case 'deleted': return 'deleted';
      case 'status': return `is ${statusLabel(e.status)}${e.lastError ? `: ${e.lastError}` : ''}`;
      case 'ready': return `linked as ${phoneText(e.phoneNumber)}`;
      case 'messageSent': return `sent a message to ${phoneText(e.phoneNumber)}`;
      case 'messageFailed': return `could not send to ${phoneText(e.phoneNumber)}: ${e.error || 'unknown error'}`;
      case 'messageReceived': {
        const from = String(e.sender || '').replace(/^\s*\[[^\]]*\]\s*/, '').replace(/:\s*$/, '').trim();
        return `received a message from ${from || e.chatId || 'someone'}`;
      }
      case 'assignment': {
        const label = (ASSIGNMENT_LABEL[e.assignmentType] || e.assignmentType || '').toLowerCase();
        return `is now the ${label} number${e.reason ? ` (${e.reason})` : ''}`;
      }
      default: return type;
    }
  }

  function addActivity(type, event) {
    const list = $('#activity');
    if (!list) return;
    const item = el('li', { class: `activity-item activity-${type}`, 'data-type': type },
      el('time', { text: timeText(event.at) }),
      ' ',
      el('span', { class: 'activity-session', text: event.sessionId || '' }),
      ' ',
      el('span', { class: 'activity-text', text: activityText(type, event) }));
    list.prepend(item);
    while (list.children.length > ACTIVITY_MAX) list.lastElementChild.remove();
    const empty = $('#activity-empty');
    if (empty) empty.hidden = true;
  }

  // ---------------------------------------------------------------- the clock

  function tick() {
    for (const node of document.querySelectorAll('.since[data-since]')) {
      const since = Number(node.dataset.since);
      if (since) setText(node, sinceText(since));
    }
  }

  // ---------------------------------------------------------------- start

  function main() {
    setupKeyForm();
    setupActions();
    setInterval(tick, 5000);
    setInterval(() => {
      if (document.visibilityState === 'visible') scheduleRefresh(0);
    }, PERIODIC_REFRESH_MS);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') scheduleRefresh(0);
    });
    boot();
  }

  main();
})();
