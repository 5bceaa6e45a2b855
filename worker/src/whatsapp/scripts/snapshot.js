// The page's facts for one poll, as one JSON object: the `Snapshot` of `page.rs` (screen
// markers, QR box, dialogs, compose box, the open chat's last rows, unread badges, own number,
// and what `hook.js`, which runs first, says of the page's modules).
// `arguments[0]` is how many of the open chat's last rows to read (0: none);
// `arguments[1].unread` whether to read the chat list's unread badges.
const rowLimit = arguments[0];
const readUnread = !arguments[1] || arguments[1].unread !== false;
const q = (sel, root) => (root || document).querySelector(sel);
const qa = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const txt = (el) => (el ? (el.innerText || el.textContent || '').trim() : '');
// A message's text as typed: emoji are drawn as images whose alt is the character.
const richText = (el) => {
  let out = '';
  for (const node of el.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) out += node.nodeValue;
    else if (node.nodeName === 'IMG') out += node.getAttribute('alt') || '';
    else if (node.nodeName === 'BR') out += '\n';
    else if (node.nodeType === Node.ELEMENT_NODE) out += richText(node);
  }
  return out;
};
// The file a media row shows (contract section 11): an img, video or audio outside the text
// whose src is a blob: URL (or none yet, while the page loads it; emoji and previews are data:
// or https:), or a document: an icon named doc… with the file's name in a title.
const blobOf = (el) => {
  const src = el.currentSrc || el.getAttribute('src') || '';
  return src.startsWith('blob:') ? src : null;
};
const mediaOf = (row, span) => {
  for (const el of qa('img, video, audio', row)) {
    if (span && span.contains(el)) continue;
    const src = el.getAttribute('src');
    const blob = blobOf(el) || (q('source[src^="blob:"]', el) || { src: null }).src;
    if (src && !blob) continue;
    const tag = el.nodeName.toLowerCase();
    const kind = tag === 'img' ? 'image' : tag === 'video' ? 'video'
      : q('[data-icon*="ptt"]', row) ? 'ptt' : 'audio';
    return { kind, blob, name: null };
  }
  const icon = qa('[data-icon]', row).find((e) => /^doc/i.test(e.getAttribute('data-icon')));
  if (!icon) return null;
  const titled = qa('[title]', row)
    .map((e) => e.getAttribute('title').trim())
    .find((t) => t && !/^download$/i.test(t));
  const name = titled ? titled.replace(/^download\s+"(.*)"$/i, '$1') : null;
  const link = q('a[href^="blob:"]', row);
  return { kind: 'document', blob: link ? link.getAttribute('href') : null, name };
};
const stored = (key) => { try { return localStorage.getItem(key); } catch (e) { return null; } };
const paneSide = q('#pane-side');
const main = q('#main');
const refs = qa('div[data-ref]');
const qrBox = refs.find((d) => d.getAttribute('data-ref'));
const dialogs = qa('div[role="dialog"]').map((d) => ({
  text: txt(d).slice(0, 600),
  buttons: qa('button, [role="button"]', d).map(txt).filter((t) => t).slice(0, 10),
}));
const compose = main ? q('footer div[contenteditable="true"][role="textbox"]', main) : null;
const messages = [];
if (main && rowLimit > 0) {
  const ids = new Set();
  for (const el of qa('[data-id]', main).slice(-rowLimit)) {
    const id = el.getAttribute('data-id');
    if (!/^(true|false)_/.test(id) || ids.has(id)) continue;
    ids.add(id);
    const row = el.closest('[role="row"]') || el;
    const labels = qa('[aria-label]', row)
      .map((e) => e.getAttribute('aria-label'))
      .filter((l) => l.length < 40);
    const pre = row.matches('[data-pre-plain-text]') ? row : q('[data-pre-plain-text]', row);
    const span = (pre && q('span.selectable-text', pre)) || q('span.selectable-text', row);
    const m = { id, labels, text: span ? richText(span).trim() : null };
    // A long text shows only its start, with a "Read more" button.
    m.more = qa('button, [role="button"]', row).some((b) => /^read more$/i.test(txt(b)));
    if (id.startsWith('false_')) m.sender = pre ? pre.getAttribute('data-pre-plain-text') : null;
    m.media = mediaOf(row, span);
    messages.push(m);
  }
}
const unread = paneSide && readUnread
  ? qa('div[role="row"]', paneSide)
      .map((row, index) => {
        const label = qa('span[aria-label]', row)
          .map((s) => s.getAttribute('aria-label'))
          .find((l) => /unread messages?\s*$/i.test(l));
        return label ? { index, label } : null;
      })
      .filter((u) => u)
  : [];
const linkCode = q('div[data-link-code]');
const phoneInput = q('input[aria-label="Type your phone number to log in to WhatsApp" i], input[aria-label="Phone number" i]');
const known = paneSide || main || refs.length || dialogs.length || linkCode || phoneInput;
return {
  url: location.href,
  progress: !!q('progress'),
  bodyText: known ? null : txt(document.body).slice(0, 2000),
  qr: qrBox
    ? {
        ref: qrBox.getAttribute('data-ref'),
        reload: !!q('button, [role="button"]', qrBox) || /reload/i.test(txt(qrBox)),
      }
    : null,
  landing: refs.length > 0,
  paneSide: !!paneSide,
  dialogs,
  compose: compose ? txt(compose) : null,
  messages,
  unread,
  linkCode: linkCode ? linkCode.getAttribute('data-link-code') : null,
  phoneInput: !!phoneInput,
  widMd: stored('last-wid-md'),
  wid: stored('last-wid'),
  modules: wamuxModules,
};
