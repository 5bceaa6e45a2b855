// The live feed: /api/events read with fetch() (so that it carries the API key, which
// EventSource cannot), parsed as Server-Sent Events, and the live indicator in the top bar.
//
// Steps: connect; on 401 lock the page; on success show "live" and, after a reconnection,
// have everything re-read (events may have been missed); feed each chunk to the parser, which
// hands every event to `onEvent(name, data)`; when the stream ends or fails, show "offline"
// and try again after a jittered, doubling delay. `stopStream` ends it for good.

import { $, setText } from './dom.js';
import { hasKey, headers, lock } from './api.js';

const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;

let controller = null;
/** bumped by every stop, so that an old loop sees it is no longer wanted */
let generation = 0;

export function setLive(stateName, text) {
  const live = $('#live');
  if (!live) return;
  live.dataset.state = stateName;
  setText(live, text);
  document.body.dataset.live = stateName;
}

export function stopStream() {
  generation += 1;
  if (controller) controller.abort();
  controller = null;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

/// Reads the events until `stopStream`, reconnecting as needed.
export async function startStream({ onEvent, onReconnect }) {
  stopStream();
  const mine = generation;
  let delay = RECONNECT_FIRST_MS;
  let first = true;
  while (mine === generation) {
    const abort = new AbortController();
    controller = abort;
    setLive('connecting', first ? 'connecting…' : 'reconnecting…');
    try {
      const response = await fetch('/api/events', {
        headers: headers({ Accept: 'text/event-stream' }),
        cache: 'no-store',
        signal: abort.signal,
      });
      if (response.status === 401) {
        if (mine === generation) lock(hasKey());
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setLive('live', 'live');
      delay = RECONNECT_FIRST_MS;
      if (!first) onReconnect();
      first = false;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const feed = sseParser(onEvent);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (mine !== generation) return;
        feed(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      if (mine !== generation) return;
    }
    if (mine !== generation) return;
    first = false;
    const wait = Math.min(delay, RECONNECT_MAX_MS);
    setLive('offline', `offline, reconnecting in ${Math.ceil(wait / 1000)} s`);
    await sleep(wait * (0.8 + Math.random() * 0.4));
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  }
}
