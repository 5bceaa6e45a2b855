// The sessions page, `/sessions`: every session, narrowed by the filter as it is typed, each
// card with its outbox.

import { $ } from './dom.js';
import { start } from './dashboard.js';
import { renderSessions } from './cards.js';
import {
  clearOutbox, enableOutbox, outboxEvent, refreshQueues, resyncOutbox,
} from './outbox.js';

enableOutbox();
start({ loaders: [refreshQueues], clear: [clearOutbox], onEvent: [outboxEvent], resync: [resyncOutbox] });
$('#filter').addEventListener('input', () => renderSessions());
