// Talking to the gateway: fetch() with the API key, failures as ApiError, and the key prompt.
//
// The key is kept in this tab's sessionStorage and sent as `X-Api-Key`. A 401 locks the page:
// the key is forgotten, the page's owner clears what it showed (the `onLock` hook), and the
// key panel takes the page's place until a key is entered (then `onUnlock`).

import { $ } from './dom.js';

const KEY_STORAGE = 'wamux.apiKey';

let key = sessionStorage.getItem(KEY_STORAGE) || '';
let hooks = { onLock: () => {}, onUnlock: () => {} };

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/// A failure as a person reads it: the API's message with its code.
export function errorText(err) {
  if (err instanceof ApiError) {
    return err.code && err.code !== 'network' ? `${err.message} (${err.code})` : err.message;
  }
  return err && err.message ? err.message : String(err);
}

export function hasKey() {
  return Boolean(key);
}

export function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  if (key) h['X-Api-Key'] = key;
  return h;
}

export const sessionPath = (id, rest = '') => `/api/sessions/${encodeURIComponent(id)}${rest}`;

/// One API call: resolves to the JSON answer (null when empty), rejects with an ApiError.
export async function api(method, path, body) {
  const usedKey = key;
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
  if (usedKey !== key) {
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
  if (response.status === 401) lock(Boolean(usedKey));
  throw failure;
}

/// Forgets the key and asks for one; `refused` says the gateway turned the last one down.
export function lock(refused) {
  key = '';
  sessionStorage.removeItem(KEY_STORAGE);
  hooks.onLock();
  $('#content').hidden = true;
  $('#loading').hidden = true;
  $('#forget-key').hidden = true;
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

export function setupKeyPrompt({ onLock, onUnlock }) {
  hooks = { onLock, onUnlock };
  $('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const entered = $('#key-input').value.trim();
    if (!entered) return;
    key = entered;
    sessionStorage.setItem(KEY_STORAGE, entered);
    $('#key-panel').hidden = true;
    $('#key-input').value = '';
    hooks.onUnlock();
  });
  $('#forget-key').addEventListener('click', () => {
    lock(false);
  });
}
