// The session cards: the sessions as the API lists them, one card per session shown, the QR
// code while one is on show, which path (the page's modules or its DOM) each capability of its
// worker uses, which actions each card offers, and its outbox (`outbox.js`).
//
// `#session-list[data-filter]` says which sessions a page shows: "attention" (the overview:
// those created here, waiting for a scan or failed) or "all" (the sessions page, narrowed by
// `#filter`).

import { $, el, setText, toast } from './dom.js';
import { api, errorText, sessionPath } from './api.js';
import { bytesText, phoneText, sinceText, statusLabel } from './format.js';
import { ASSIGNMENT_LABEL, assignedTypes } from './assignments.js';
import { scheduleRefresh } from './refresh.js';
import { outboxSection, renderOutbox } from './outbox.js';

const STATUS_HINT = {
  STARTING: 'The browser is starting.',
  SCAN_QR_CODE: 'Waiting for the phone to scan the QR code.',
  WORKING: 'Linked and ready to send.',
  STOPPED: 'Stopped: press Start to run it again.',
  FAILED: 'Failed: see the last error, then Start or Restart it.',
};

/** The capabilities of `engine` in the API, in the order shown, with what each one does */
const CAPABILITIES = [
  ['state', 'the session’s state (QR code, linked, own number)'],
  ['incoming', 'reading incoming messages'],
  ['acks', 'seeing sent messages delivered and read'],
  ['send', 'sending'],
];

export const ACTIONS = [
  ['start', 'Start'],
  ['stop', 'Stop'],
  ['restart', 'Restart'],
  ['logout', 'Log out'],
  ['assign-sells', 'Assign to sales'],
  ['assign-coordination', 'Assign to coordination'],
  ['delete', 'Delete'],
];

/** id -> session view, as the API gives it */
const sessions = new Map();
/** id -> card element */
const cards = new Map();
/** id -> {qr, png}: the QR code on show */
const qrs = new Map();
/** id -> sequence number of the latest QR request */
const qrSeq = new Map();
/** ids whose QR code is being fetched */
const qrLoading = new Set();
/** counts deletions seen here, so that a list read before one is not applied after it */
let epoch = 0;
/** ids of the sessions created from this page view */
const createdHere = new Set();
/** id -> text of the action in progress */
const busy = new Map();
/** the totals of the latest list */
let listStats = null;

export async function refreshSessions() {
  const seenEpoch = epoch;
  const data = await api('GET', '/api/sessions');
  if (seenEpoch !== epoch) {
    // A session was deleted while this list was on its way: it may still be in it.
    scheduleRefresh();
    return;
  }
  const seen = new Set();
  for (const view of (data && data.sessions) || []) {
    seen.add(view.sessionId);
    sessions.set(view.sessionId, view);
  }
  for (const id of [...sessions.keys()]) {
    if (!seen.has(id)) forgetSession(id);
  }
  listStats = (data && data.stats) || null;
  renderSessions();
}

export function forgetSession(id) {
  epoch += 1;
  sessions.delete(id);
  qrs.delete(id);
  createdHere.delete(id);
  const card = cards.get(id);
  if (card) card.remove();
  cards.delete(id);
}

/// Shows a session created from this page at once, before the list has it.
export function addCreated(id) {
  createdHere.add(id);
  if (!sessions.has(id)) {
    sessions.set(id, {
      sessionId: id, status: 'STARTING', statusSince: Date.now(), qrAvailable: false,
      phoneNumber: null, lastError: null, restarts: 0, memoryBytes: null, createdAt: Date.now(),
    });
  }
  renderSessions();
  return cards.get(id);
}

/// Takes in what an action answered about a session still listed.
export function mergeView(id, view) {
  if (view && view.sessionId === id && sessions.has(id)) {
    sessions.set(id, { ...sessions.get(id), ...view });
  }
}

export function isBusy(id) {
  return busy.has(id);
}

/// Marks the card of `id` busy with `text`, or no longer busy when `text` is null.
export function setBusy(id, text) {
  if (text === null) busy.delete(id);
  else busy.set(id, text);
  rerenderCard(id);
}

function needsAttention(view) {
  return createdHere.has(view.sessionId)
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

export function renderSessions() {
  const list = $('#session-list');
  if (!list) return;
  const attentionOnly = list.dataset.filter === 'attention';
  const all = [...sessions.values()].sort((a, b) =>
    (a.createdAt || 0) - (b.createdAt || 0) || String(a.sessionId).localeCompare(String(b.sessionId)));
  const needle = filterText();
  const shown = all.filter((v) => (attentionOnly ? needsAttention(v) : matchesFilter(v, needle)));
  const shownIds = new Set(shown.map((v) => v.sessionId));
  for (const [id, card] of cards) {
    if (!shownIds.has(id)) {
      card.remove();
      cards.delete(id);
    }
  }
  shown.forEach((view, index) => {
    let card = cards.get(view.sessionId);
    if (!card) {
      card = buildCard(view.sessionId);
      cards.set(view.sessionId, card);
    }
    updateCard(card, view);
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
  });
  const empty = $('#sessions-empty');
  if (empty) {
    empty.hidden = shown.length > 0;
    if (!attentionOnly && all.length > 0 && shown.length === 0) {
      empty.textContent = 'No session matches the filter.';
    } else if (!attentionOnly) {
      empty.textContent = 'No sessions yet. Press “New session” and scan its QR code with the phone.';
    }
  }
  const summary = $('#sessions-summary');
  if (summary && listStats) {
    const s = listStats;
    const working = (s.byStatus || {}).WORKING ?? 0;
    setText(summary, `${s.total ?? all.length} of at most ${s.maxSessions ?? '?'} · ${working} working`);
  }
}

function buildCard(id) {
  const fact = (label, cls) => el('div', { class: 'fact' },
    el('dt', { text: label }), el('dd', { class: cls }));
  return el('article', { class: 'card session', 'data-session-id': id },
    el('header', { class: 'card-head' },
      el('h3', { class: 'session-id', text: id }),
      el('span', { class: 'badges' }),
      el('span', { class: 'status' })),
    el('p', { class: 'status-hint muted' }),
    el('dl', { class: 'facts' },
      fact('Phone', 'phone'),
      fact('Memory', 'memory'),
      fact('Restarts', 'restarts'),
      fact('In this status', 'since'),
      fact('Engine', 'engine')),
    el('div', { class: 'qr-box', hidden: true },
      el('img', { class: 'qr', alt: `QR code to link session ${id}`, width: 264, height: 264 }),
      el('p', { class: 'muted small', text: 'On the phone: WhatsApp → Linked devices → Link a device, then scan this code.' })),
    el('form', { class: 'pair-form', hidden: true },
      el('label', { text: 'Link with phone number' },
        el('input', {
          type: 'tel', name: 'phone', class: 'pair-phone', required: true,
          placeholder: 'the phone’s number, e.g. +52 1 55 1234 5678', autocomplete: 'off',
        })),
      el('button', { type: 'submit', class: 'pair-submit', text: 'Get a code' })),
    el('p', { class: 'pairing', hidden: true },
      'Pairing code: ', el('strong', { class: 'pairing-code' }),
      ' ', el('span', { class: 'pairing-expiry muted small' }),
      el('span', { class: 'muted small pairing-help', text: ' On the phone: WhatsApp → Linked devices → Link a device → Link with phone number instead, then type this code.' })),
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
      }))),
    outboxSection(id));
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

  showEngine($('.engine', card), view.engine);

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

  $('.pair-form', card).hidden = view.status !== 'SCAN_QR_CODE';
  const pairing = $('.pairing', card);
  if (view.pairingCode && view.status === 'SCAN_QR_CODE') {
    setText($('.pairing-code', card), String(view.pairingCode));
    const expires = view.pairingCodeExpiresAt;
    setText($('.pairing-expiry', card), expires
      ? `(until ${new Date(expires).toLocaleTimeString()}; a new one follows)` : '');
    pairing.hidden = false;
  } else {
    pairing.hidden = true;
  }

  if (view.qrAvailable) {
    if (!qrs.has(id)) loadQr(id, false);
  } else {
    qrs.delete(id);
  }
  showQr(card, view);

  const busyText = busy.get(id);
  card.classList.toggle('busy', Boolean(busyText));
  card.setAttribute('aria-busy', busyText ? 'true' : 'false');
  const busyLine = $('.busy-text', card);
  setText(busyLine, busyText || '');
  busyLine.hidden = !busyText;
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
    button.disabled = Boolean(busyText) || !enabled[action];
    if (action.startsWith('assign-')) {
      const type = action.slice('assign-'.length);
      button.title = !linked ? 'Link a phone first' : types.includes(type)
        ? `Already the ${ASSIGNMENT_LABEL[type].toLowerCase()} number` : '';
    }
  }
  renderOutbox(card);
}

/// The paths of `engine` as compact chips: one "modules" while every capability has its
/// modules, else one per capability, each on the DOM flagged and saying what that costs.
function showEngine(dd, engine) {
  const key = engine ? CAPABILITIES.map(([k]) => engine[k]).join(',') : '';
  if (dd.dataset.engine === key && dd.hasChildNodes()) return;
  dd.dataset.engine = key;
  if (!engine) {
    dd.replaceChildren(el('span', {
      class: 'muted', text: '—', title: 'The worker has not said yet how it reads and drives WhatsApp Web.',
    }));
    return;
  }
  if (CAPABILITIES.every(([k]) => engine[k] === 'modules')) {
    dd.replaceChildren(el('span', {
      class: 'engine-path modules',
      'data-path': 'modules',
      text: 'modules',
      title: 'Everything goes through WhatsApp Web’s own modules: incoming messages are read without marking them read on the phone.',
    }));
    return;
  }
  dd.replaceChildren(...CAPABILITIES.map(([k, what]) => {
    const dom = engine[k] !== 'modules';
    return el('span', {
      class: `engine-path ${dom ? 'dom' : 'modules'}`,
      'data-capability': k,
      'data-path': String(engine[k]),
      text: dom ? `${k}: DOM` : k,
      title: dom
        ? `WhatsApp Web’s own modules for ${what} are missing, so the DOM fallback is in use.`
          + (k === 'incoming' ? ' Through the DOM, reading a message opens its chat, which marks it read on the phone (blue ticks).' : '')
        : `${what[0].toUpperCase()}${what.slice(1)} goes through WhatsApp Web’s own modules.`,
    });
  }));
}

function showQr(card, view) {
  const box = $('.qr-box', card);
  const img = $('img.qr', card);
  const qr = qrs.get(view.sessionId);
  if (qr && view.qrAvailable) {
    const src = `data:image/png;base64,${qr.png}`;
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
    box.hidden = false;
  } else {
    box.hidden = true;
    if (img.hasAttribute('src')) img.removeAttribute('src');
  }
}

/// Fetches the QR code on show; `force` fetches again even while a fetch is under way (a new
/// code was announced), and only the latest answer is shown.
async function loadQr(id, force) {
  if (!force && qrLoading.has(id)) return;
  const seq = (qrSeq.get(id) || 0) + 1;
  qrSeq.set(id, seq);
  qrLoading.add(id);
  try {
    const data = await api('GET', sessionPath(id, '/qr'));
    if (qrSeq.get(id) !== seq) return;
    if (data && data.png) qrs.set(id, { qr: data.qr, png: data.png });
    else qrs.delete(id);
  } catch (err) {
    if (qrSeq.get(id) !== seq) return;
    qrs.delete(id);
    if (err.status !== 404 && err.status !== 401 && err.status !== 0) {
      toast(`Cannot show the QR code of ${id}: ${errorText(err)}`, 'error');
    }
  } finally {
    if (qrSeq.get(id) === seq) qrLoading.delete(id);
  }
  const card = cards.get(id);
  const view = sessions.get(id);
  if (card && view) showQr(card, view);
}

function rerenderCard(id) {
  const card = cards.get(id);
  const view = sessions.get(id);
  if (card && view) updateCard(card, view);
}

/// Applies an event of the live feed to the session it concerns, at once.
export function applyEvent(type, event) {
  const id = event.sessionId;
  const view = id ? sessions.get(id) : undefined;
  switch (type) {
    case 'status':
      if (view) {
        view.status = event.status;
        view.statusSince = event.at || Date.now();
        if (event.lastError) view.lastError = event.lastError;
        if (event.status !== 'SCAN_QR_CODE') {
          view.qrAvailable = false;
          qrs.delete(id);
        }
      }
      break;
    case 'qr':
      if (view) view.qrAvailable = true;
      if (id) loadQr(id, true);
      break;
    case 'pairingCode':
      if (view) {
        view.pairingCode = event.code;
        view.pairingCodeExpiresAt = event.expiresAt;
        view.qrAvailable = false;
        qrs.delete(id);
      }
      break;
    case 'ready':
      if (view) {
        view.phoneNumber = event.phoneNumber || view.phoneNumber;
        view.qrAvailable = false;
        qrs.delete(id);
      }
      break;
    case 'deleted':
      if (id) {
        forgetSession(id);
        renderSessions();
      }
      break;
    default:
      break;
  }
  if (id && view) rerenderCard(id);
}

/// Keeps the "for 5 min" of every card current.
export function tickSince() {
  for (const node of document.querySelectorAll('.since[data-since]')) {
    const since = Number(node.dataset.since);
    if (since) setText(node, sinceText(since));
  }
}

export function clearSessions() {
  sessions.clear();
  qrs.clear();
  busy.clear();
  listStats = null;
  for (const card of cards.values()) card.remove();
  cards.clear();
  setText($('#sessions-summary'), '');
}
