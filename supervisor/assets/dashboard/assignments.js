// The Laravel assignments: which session is the sales number and which the coordination one,
// shown in their panel and as badges on the session cards.

import { $, el, toast } from './dom.js';
import { api, errorText } from './api.js';
import { phoneText, statusLabel } from './format.js';

export const ASSIGNMENT_LABEL = { sells: 'Sales', coordination: 'Coordination' };
const TYPES = ['sells', 'coordination'];

/** the API's current assignments, or null when they are not known */
let assignments = null;

/// The assignment types `id` holds.
export function assignedTypes(id) {
  if (!assignments) return [];
  return TYPES.filter((type) => assignments[type] && assignments[type].sessionId === id);
}

/// Re-reads the assignments. Only a 401 rejects: any other failure is shown in the panel.
export async function refreshAssignments() {
  const errorLine = $('#assignments-error');
  try {
    assignments = await api('GET', '/api/current-assignments');
    errorLine.hidden = true;
  } catch (err) {
    if (err.status === 401) throw err;
    assignments = null;
    errorLine.textContent = `Assignments cannot be read: ${errorText(err)}`;
    errorLine.hidden = false;
  }
  renderAssignments();
}

function renderAssignments() {
  for (const type of TYPES) {
    const box = $(`#assignment-${type}`);
    if (!box) continue;
    const body = $('.assignment-body', box);
    const a = assignments ? assignments[type] : null;
    if (!a) {
      box.dataset.assigned = 'false';
      box.removeAttribute('data-assigned-session');
      box.removeAttribute('data-status');
      body.replaceChildren(el('p', { class: 'empty muted', text: assignments ? 'Not assigned' : '—' }));
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

/// Tells of an `assignment` event: a number moved to another session.
export function announceAssignment(event) {
  const label = ASSIGNMENT_LABEL[event.assignmentType] || event.assignmentType || 'A number';
  const reason = event.reason ? ` (${event.reason})` : '';
  const id = event.sessionId;
  toast(`${label} now uses ${phoneText(event.phoneNumber) || id} (session ${id})${reason}.`, 'info');
}

export function clearAssignments() {
  assignments = null;
  for (const box of document.querySelectorAll('.assignment-body')) box.replaceChildren();
}
