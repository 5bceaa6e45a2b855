// One call into WhatsApp Web's own modules (contract §10); `arguments[0]` names it:
// `refresh-qr` (`Cmd.refreshQR()`, a new QR cycle after UNPAIRED_IDLE), `takeover`
// (`Socket.takeover()`, "Use here"), or `ack` with `arguments[1]` a message's serialized id
// (its ack, or null when the page does not hold it). Answers null when the piece is missing.
const need = (name) => {
  try {
    return window.require(name);
  } catch (e) {
    return null;
  }
};
const call = arguments[0];
if (call === 'refresh-qr') {
  const m = need('WAWebCmd');
  if (!m || !m.Cmd || typeof m.Cmd.refreshQR !== 'function') return null;
  m.Cmd.refreshQR();
  return true;
}
if (call === 'takeover') {
  const m = need('WAWebSocketModel');
  if (!m || !m.Socket || typeof m.Socket.takeover !== 'function') return null;
  m.Socket.takeover();
  return true;
}
if (call === 'ack') {
  const m = need('WAWebCollections');
  const msg = m && m.Msg && typeof m.Msg.get === 'function' ? m.Msg.get(arguments[1]) : null;
  return msg && typeof msg.ack === 'number' ? msg.ack : null;
}
return null;
