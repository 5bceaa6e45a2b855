// What a person does: a card's buttons (start, stop, restart, log out, assign, delete, the
// destructive ones confirmed first), "New session" and "Restore sessions".

import { $, confirmDialog, toast } from './dom.js';
import { api, errorText, sessionPath } from './api.js';
import { phoneText } from './format.js';
import { ASSIGNMENT_LABEL, refreshAssignments } from './assignments.js';
import {
  ACTIONS, addCreated, forgetSession, isBusy, mergeView, renderSessions, setBusy,
} from './cards.js';
import { scheduleRefresh } from './refresh.js';

const DONE = {
  start: 'started',
  stop: 'stopped',
  restart: 'restarting',
  logout: 'logged out: a new QR code follows',
};

const BUSY_TEXT = {
  delete: 'Deleting…', start: 'Starting…', stop: 'Stopping…', restart: 'Restarting…',
  logout: 'Logging out…', 'assign-sells': 'Assigning…', 'assign-coordination': 'Assigning…',
};

async function runAction(id, action) {
  if (isBusy(id)) return;
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
  setBusy(id, BUSY_TEXT[action] || 'Working…');
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
      renderSessions();
    } else {
      mergeView(id, await api('POST', sessionPath(id, `/${action}`)));
      toast(`Session ${id}: ${DONE[action] || 'done'}.`, 'ok');
    }
  } catch (err) {
    if (err.status !== 401) {
      const verb = (ACTIONS.find(([a]) => a === action) || [action, action])[1].toLowerCase();
      toast(`Could not ${verb} session ${id}: ${errorText(err)}`, 'error');
    }
  } finally {
    setBusy(id, null);
    scheduleRefresh();
  }
}

/// "Link with phone number": asks the session's page for a pairing code for the number typed.
async function askPairingCode(id, form) {
  const input = $('.pair-phone', form);
  const button = $('.pair-submit', form);
  button.disabled = true;
  try {
    const code = await api('POST', sessionPath(id, '/pairing-code'), { phoneNumber: input.value.trim() });
    mergeView(id, { sessionId: id, pairingCode: code.code, pairingCodeExpiresAt: code.expiresAt, qrAvailable: false });
    renderSessions();
    toast(`Session ${id}: type ${code.code} on the phone.`, 'ok');
  } catch (err) {
    if (err.status !== 401) toast(`No pairing code for ${id}: ${errorText(err)}`, 'error');
  } finally {
    button.disabled = false;
  }
}

export function setupActions() {
  $('#session-list').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    const card = button.closest('[data-session-id]');
    if (!card) return;
    runAction(card.dataset.sessionId, button.dataset.action);
  });

  $('#session-list').addEventListener('submit', (event) => {
    const form = event.target.closest('form.pair-form');
    if (!form) return;
    event.preventDefault();
    const card = form.closest('[data-session-id]');
    if (card) askPairingCode(card.dataset.sessionId, form);
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
      const card = addCreated(newId);
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
}
