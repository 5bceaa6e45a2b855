// DOM helpers: building elements, setting text, toasts and the confirmation dialog.
//
// Every string from outside (ids, numbers, names, error texts, anything from the API) goes
// into the page as text (textContent, createTextNode, attributes), never as markup: `el` and
// `setText` are the only ways in.

export const $ = (selector, root = document) => root.querySelector(selector);

/// An element with attributes (`class`, `text` for its text, the rest as attributes; true
/// makes a bare attribute, false, null and undefined none) and children (strings become text).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/// Sets a node's text, touching the page only when it changes.
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

export function toast(message, kind = 'info') {
  const box = $('#toasts');
  if (!box) return;
  // The same message twice in a row is shown once.
  for (const existing of box.children) {
    if (existing.dataset.message === message) {
      existing.remove();
    }
  }
  const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const item = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    el('span', { class: 'toast-text', text: message }), close);
  item.dataset.message = message;
  close.addEventListener('click', () => item.remove());
  box.prepend(item);
  while (box.children.length > 5) box.lastElementChild.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 20000 : 6000);
}

/// Asks for a yes or no in the page's dialog; resolves true for yes. A question already on
/// show makes any other one a no.
export function confirmDialog(title, text, okLabel) {
  const dialog = $('#confirm');
  if (dialog.open) return Promise.resolve(false);
  setText($('#confirm-title'), title);
  setText($('#confirm-text'), text);
  setText($('#confirm-ok'), okLabel);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    $('#confirm-cancel').focus();
  });
}
