// The sessions page, `/sessions`: every session, narrowed by the filter as it is typed.

import { $ } from './dom.js';
import { start } from './dashboard.js';
import { renderSessions } from './cards.js';

start();
$('#filter').addEventListener('input', () => renderSessions());
