// One element to act on, named by `arguments[0]` (a `Target` of `page.rs`, with an index in
// `arguments[1]` where one is needed): returns the element, or null when it is not on the page.
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
}
return null;
