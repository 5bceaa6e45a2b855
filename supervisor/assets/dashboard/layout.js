// What every page has around its own content, built once here rather than repeated in each
// page's markup: the top bar (brand, navigation, live indicator, "Forget key"), the API key
// panel, the confirmation dialog and the toasts.

import { $, el } from './dom.js';

const NAV = [['/', 'Dashboard'], ['/sessions', 'Sessions']];

function topbar() {
  return el('header', { class: 'topbar' },
    el('a', { class: 'brand', href: '/', text: 'wamux' }),
    el('nav', { class: 'nav' },
      ...NAV.map(([href, label]) => el('a', {
        href,
        'aria-current': location.pathname === href ? 'page' : undefined,
        text: label,
      }))),
    el('span', { id: 'live', class: 'live', 'data-state': 'idle', role: 'status', text: 'offline' }),
    el('button', { id: 'forget-key', class: 'link-button', type: 'button', hidden: true, text: 'Forget key' }));
}

function keyPanel() {
  return el('section', { id: 'key-panel', class: 'panel key-panel', hidden: true },
    el('form', { id: 'key-form', autocomplete: 'off' },
      el('h1', { text: 'API key needed' }),
      el('p', {},
        'This gateway was started with ', el('code', { text: '--api-key' }),
        '. Enter the key to see its sessions. It is kept in this browser tab only, until the tab is closed.'),
      el('p', { id: 'key-error', class: 'form-error', role: 'alert', hidden: true }),
      el('label', { for: 'key-input', text: 'API key' }),
      el('div', { class: 'row' },
        el('input', {
          id: 'key-input', name: 'key', type: 'password', autocomplete: 'current-password',
          spellcheck: 'false', required: true,
        }),
        el('button', { id: 'key-submit', type: 'submit', class: 'primary', text: 'Unlock' }))));
}

function confirmation() {
  return el('dialog', { id: 'confirm', class: 'confirm', 'aria-labelledby': 'confirm-title' },
    el('form', { method: 'dialog' },
      el('h2', { id: 'confirm-title' }),
      el('p', { id: 'confirm-text' }),
      el('div', { class: 'row end' },
        el('button', { id: 'confirm-cancel', type: 'submit', value: 'cancel', text: 'Cancel' }),
        el('button', { id: 'confirm-ok', type: 'submit', value: 'ok', class: 'danger', text: 'OK' }))));
}

/// Puts the shared parts around the page's `<main>`.
export function mountLayout() {
  const main = $('main');
  main.before(topbar());
  main.prepend(keyPanel());
  main.after(confirmation(), el('div', { id: 'toasts', class: 'toasts', 'aria-live': 'polite' }));
}
