// The overview's activity list: the latest events as sentences, newest first.

import { $, el } from './dom.js';
import { phoneText, statusLabel, timeText } from './format.js';
import { ASSIGNMENT_LABEL } from './assignments.js';

const ACTIVITY_MAX = 40;

function activityText(type, e) {
  switch (type) {
    case 'created': return 'created';
    case 'deleted': return 'deleted';
    case 'status': return `is ${statusLabel(e.status)}${e.lastError ? `: ${e.lastError}` : ''}`;
    case 'ready': return `linked as ${phoneText(e.phoneNumber)}`;
    case 'messageQueued': return `queued message ${e.id} to ${phoneText(e.phoneNumber)}`;
    case 'messageSent': return `sent message ${e.id} to ${phoneText(e.phoneNumber)}`;
    case 'messageFailed': {
      const error = e.error || {};
      const why = error.message || error.code || 'unknown error';
      return e.status === 'expired'
        ? `message ${e.id} to ${phoneText(e.phoneNumber)} expired unsent: ${why}`
        : `could not send message ${e.id} to ${phoneText(e.phoneNumber)}: ${why}`;
    }
    case 'messageAck': return `message ${e.id} was ${e.status === 'read' ? 'read' : 'delivered'}`;
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

export function addActivity(type, event) {
  // A new QR code every few seconds is not news.
  if (type === 'qr' || type === 'pairingCode') return;
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

export function clearActivity() {
  const activity = $('#activity');
  if (activity) activity.replaceChildren();
}
