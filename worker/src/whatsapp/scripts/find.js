// One element to act on, named by `arguments[0]` (a `Target` of `page.rs`, with an index or a
// MIME type in `arguments[1]` where one is needed): returns the element, or null when it is not
// on the page.
const [what, index] = arguments;
const q = (sel, root) => (root || document).querySelector(sel);
const qa = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const txt = (el) => (el ? (el.innerText || el.textContent || '').trim() : '');
const byText = (sel, root, re) => qa(sel, root).find((e) => re.test(txt(e))) || null;
const buttons = 'button, [role="button"]';
const inDialogs = (re) => {
  for (const d of qa('div[role="dialog"]')) {
    const b = byText(buttons, d, re);
    if (b) return b;
  }
  return null;
};
const phoneLogin = /^(log in|link) with phone number$/i;
switch (what) {
  case 'qr-reload': {
    const box = qa('div[data-ref]').find((d) => q(buttons, d) || /reload/i.test(txt(d)));
    return box ? q(buttons, box) || box : null;
  }
  case 'use-here':
    return inDialogs(/^use here$/i);
  case 'dialog-ok':
    return inDialogs(/^ok$/i);
  case 'phone-login':
    return byText('a, ' + buttons + ', [role="link"]', null, phoneLogin) || byText('span, div', null, phoneLogin);
  case 'phone-input':
    return q('input[aria-label="Type your phone number to log in to WhatsApp" i], input[aria-label="Phone number" i]');
  case 'next':
    return byText(buttons, null, /^next$/i);
  case 'compose': {
    const main = q('#main');
    return main ? q('footer div[contenteditable="true"][role="textbox"]', main) : null;
  }
  case 'send-button': {
    const labelled = q('#main button[aria-label="Send"]') || q('button[aria-label="Send"]');
    if (labelled) return labelled;
    const icon = q('span[data-icon="wds-ic-send-filled"]') || q('span[data-icon="send"]');
    return icon ? icon.closest(buttons) || icon : null;
  }
  case 'unread-chat':
    return qa('#pane-side div[role="row"]')[index] || null;
  case 'attach': {
    const main = q('#main');
    if (!main) return null;
    for (const icon of ['plus-rounded', 'attach-menu-plus', 'clip']) {
      const span = q('footer span[data-icon="' + icon + '"]', main) || q('span[data-icon="' + icon + '"]', main);
      if (span) return span.closest(buttons) || span;
    }
    return q('div[title="Attach"]', main);
  }
  case 'file-input': {
    // `index` is the MIME type the "Photos & videos" input must accept, or null for a document.
    const accepts = (input, type) => (input.getAttribute('accept') || '').split(',').some((a) => {
      a = a.trim().toLowerCase();
      if (a === '*' || a === '*/*') return true;
      if (!type) return false;
      return a.endsWith('/*') ? type.startsWith(a.slice(0, -1)) : a === type;
    });
    // An item owns the nearest file input around its label's text.
    const ownInput = (label, fits) => {
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!label.test(node.nodeValue.trim())) continue;
        for (let box = node.parentElement, up = 0; box && up < 8; box = box.parentElement, up++) {
          const input = qa('input[type="file"]', box).find(fits);
          if (input) return input;
        }
      }
      return null;
    };
    const inputs = qa('input[type="file"]');
    const isDocument = (i) => ['*', '*/*'].includes((i.getAttribute('accept') || '').trim());
    const documents = ownInput(/^document$/i, isDocument) || inputs.find(isDocument) || null;
    if (!index) return documents;
    const type = String(index).toLowerCase();
    const photo = (i) => /image\//i.test(i.getAttribute('accept') || '') && accepts(i, type);
    return ownInput(/^photos (&|and) videos$/i, photo) || inputs.find(photo) || documents;
  }
  case 'caption':
    return captionBox();
  case 'media-send': {
    // The send button inside the editor that holds the caption box, never the chat's own.
    const caption = captionBox();
    const compose = q('#main footer div[contenteditable="true"][role="textbox"]');
    for (let box = caption && caption.parentElement; box; box = box.parentElement) {
      if (compose && box.contains(compose)) return null;
      const labelled = q('div[role="button"][aria-label="Send"], button[aria-label="Send"]', box);
      if (labelled) return labelled;
      const icon = q('span[data-icon="send"], span[data-icon="wds-ic-send-filled"]', box);
      if (icon) return icon.closest(buttons) || icon;
    }
    return null;
  }
}
return null;

function captionBox() {
  const caption = /^add a caption/i;
  return qa('div[contenteditable="true"]').find((e) =>
    caption.test(e.getAttribute('aria-label') || '') || caption.test(e.getAttribute('aria-placeholder') || '')) || null;
}
