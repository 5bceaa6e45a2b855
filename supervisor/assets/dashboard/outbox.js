// The outbox on the session cards of the sessions page: how many messages of each session wait
// to go out and for how long the oldest has waited (from /api/stats), its last messages with
// their status, and a form to send a test message from a WORKING session.
//
// Steps: the page's batched re-read reads /api/stats for the queues. A session's last messages
// are read when its card first shows, after each message event of that session (a burst of
// them makes one read per session, never a read of every session), when its queue changed,
// and for every card when events may have been missed (a reconnection or a lag). Only the
// latest answer for a session is shown.

import { $, el, setText, toast } from './dom.js';
import { api, errorText, sessionPath } from './api.js';
import { dateTimeText, durationText, phoneText } from './format.js';

const RECENT = 5;
const READ_DEBOUNCE_MS = 150;
const SHORT_TEXT = 60;
const MESSAGE_EVENTS = new Set(['messageQueued', 'messageSent', 'messageFailed', 'messageAck']);

/** false on pages that do not show the outbox: their cards keep it hidden */
let enabled = false;
/** id -> {queued, oldestAgeSeconds}, of the sessions with messages waiting */
let queues = new Map();
/** id -> the session's last messages, newest first, as the API lists them */
const recent = new Map();
/** ids whose last messages are to be read at the next flush */
const dirty = new Set();
/** ids whose first read was asked for, so that a re-render does not ask again */
const asked = new Set();
/** id -> sequence number of the latest read */
const readSeq = new Map();
/** list element -> what it shows, as JSON */
const shownLists = new WeakMap();
/** bumped when the page is locked, so that answers read before are dropped */
let generation = 0;
let flushTimer = null;

/// Shows the outbox on this page's cards and handles their test-message forms.
export function enableOutbox() {
  enabled = true;
  $('#session-list').addEventListener('submit', (event) => {
    const form = event.target.closest('form.send-test-form');
    if (!form) return;
    event.preventDefault();
    const card = form.closest('[data-session-id]');
    if (card) sendTest(card.dataset.sessionId, form);
  });
}

/// The card's outbox, hidden until `renderOutbox` fills it.
export function outboxSection(id) {
  return el('section', { class: 'outbox', hidden: true, 'aria-label': `Messages of ${id}` },
    el('div', { class: 'outbox-head' },
      el('h4', { text: 'Messages' }),
      el('span', { class: 'queue', hidden: true })),
    el('ol', { class: 'messages' }),
    el('p', { class: 'outbox-empty muted small', hidden: true, text: 'No message sent from this session yet.' }),
    el('details', { class: 'send-test', hidden: true },
      el('summary', { text: 'Send a test message' }),
      el('form', { class: 'send-test-form', autocomplete: 'off' },
        el('label', {},
          el('span', { class: 'label-text', text: 'To' }),
          el('input', { name: 'phoneNumber', type: 'tel', required: true, placeholder: '+52 55 1234 5678', spellcheck: 'false' })),
        el('label', {},
          el('span', { class: 'label-text', text: 'Message' }),
          el('input', { name: 'message', type: 'text', required: true, maxlength: 4096 })),
        el('button', { type: 'submit', text: 'Send' }))));
}

/// Brings the card's outbox up to date with what is known of its session.
export function renderOutbox(card) {
  const section = $('.outbox', card);
  if (!enabled || !section) return;
  const id = card.dataset.sessionId;
  section.hidden = false;
  if (!recent.has(id) && !asked.has(id)) {
    asked.add(id);
    markDirty(id);
  }

  const queueLine = $('.queue', section);
  const queue = queues.get(id);
  if (queue && queue.queued > 0) {
    setText(queueLine, `${queue.queued} queued · oldest ${durationText(queue.oldestAgeSeconds || 0)}`);
    queueLine.hidden = false;
  } else {
    setText(queueLine, '');
    queueLine.hidden = true;
  }

  const messages = recent.get(id);
  const list = $('.messages', section);
  // Rebuilt only when what the API said changed, so a re-read leaves the list as it is.
  const signature = messages ? JSON.stringify(messages) : '';
  if (shownLists.get(list) !== signature) {
    shownLists.set(list, signature);
    list.replaceChildren(...(messages || []).map(messageItem));
  }
  $('.outbox-empty', section).hidden = !messages || messages.length > 0;
  $('.send-test', section).hidden = card.dataset.status !== 'WORKING';
}

function shortText(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > SHORT_TEXT ? `${flat.slice(0, SHORT_TEXT - 1)}…` : flat;
}

function messageItem(m) {
  const at = m.sentAt || m.createdAt;
  const error = m.error ? (m.error.message || m.error.code || 'unknown error') : null;
  return el('li', { class: 'message', 'data-id': m.id, 'data-status': m.status },
    el('div', { class: 'message-line' },
      el('span', { class: 'message-status', 'data-status': m.status, text: m.status }),
      el('span', { class: 'message-to', text: phoneText(m.to) }),
      el('time', {
        class: 'message-time',
        datetime: at ? new Date(at).toISOString() : undefined,
        text: at ? dateTimeText(at) : '',
      })),
    el('p', { class: 'message-text', title: m.text, text: shortText(m.text) }),
    error ? el('p', {
      class: 'message-error',
      title: m.error.code || undefined,
      text: error,
    }) : null);
}

function cardsShown() {
  return [...document.querySelectorAll('#session-list [data-session-id]')];
}

function renderId(id) {
  const card = cardsShown().find((c) => c.dataset.sessionId === id);
  if (card) renderOutbox(card);
}

function markDirty(id) {
  if (!enabled) return;
  dirty.add(id);
  if (!flushTimer) flushTimer = setTimeout(flush, READ_DEBOUNCE_MS);
}

function flush() {
  flushTimer = null;
  const ids = [...dirty];
  dirty.clear();
  for (const id of ids) readRecent(id);
}

async function readRecent(id) {
  const seq = (readSeq.get(id) || 0) + 1;
  readSeq.set(id, seq);
  const mine = generation;
  let data;
  try {
    data = await api('GET', sessionPath(id, `/messages?limit=${RECENT}`));
  } catch (err) {
    if (mine !== generation || readSeq.get(id) !== seq) return;
    // A deleted session has nothing more to show; after a failure its next render asks again.
    asked.delete(id);
    if (err.status === 404) forgetOutbox(id);
    else if (err.status !== 401 && err.status !== 0) {
      toast(`Cannot read the messages of ${id}: ${errorText(err)}`, 'error');
    }
    return;
  }
  if (mine !== generation || readSeq.get(id) !== seq) return;
  recent.set(id, (data && data.messages) || []);
  renderId(id);
}

/// The page's batched re-read: the queues of every session, from /api/stats.
export async function refreshQueues() {
  const stats = await api('GET', '/api/stats');
  const next = new Map(Object.entries(((stats && stats.messages) || {}).perSession || {}));
  for (const id of new Set([...queues.keys(), ...next.keys()])) {
    const before = queues.get(id);
    const after = next.get(id);
    // A queue that moved means messages changed status, events missed or not.
    if ((before && before.queued) !== (after && after.queued) && recent.has(id)) markDirty(id);
  }
  queues = next;
  for (const card of cardsShown()) renderOutbox(card);
}

/// Hears each event of the live feed: a message event re-reads that session's messages.
export function outboxEvent(type, event) {
  const id = event.sessionId;
  if (!id) return;
  if (MESSAGE_EVENTS.has(type)) markDirty(id);
  else if (type === 'deleted') forgetOutbox(id);
}

/// Events may have been missed: every card shown reads its messages again.
export function resyncOutbox() {
  for (const card of cardsShown()) markDirty(card.dataset.sessionId);
}

function forgetOutbox(id) {
  recent.delete(id);
  queues.delete(id);
  asked.delete(id);
  dirty.delete(id);
}

export function clearOutbox() {
  generation += 1;
  clearTimeout(flushTimer);
  flushTimer = null;
  queues = new Map();
  recent.clear();
  dirty.clear();
  asked.clear();
}

async function sendTest(id, form) {
  const button = $('button[type="submit"]', form);
  const phoneNumber = form.elements.phoneNumber.value.trim();
  const message = form.elements.message.value;
  if (!phoneNumber || !message.trim() || button.disabled) return;
  button.disabled = true;
  try {
    // Answered at once: the message's status on the card tells what becomes of it.
    const answer = await api('POST', sessionPath(id, '/send-message?wait=false'), { phoneNumber, message });
    form.elements.message.value = '';
    toast(`Message to ${phoneText(phoneNumber)} accepted (${answer && answer.status}).`, 'ok');
    markDirty(id);
  } catch (err) {
    if (err.status !== 401) toast(`Could not send from ${id}: ${errorText(err)}`, 'error');
  } finally {
    button.disabled = false;
  }
}
