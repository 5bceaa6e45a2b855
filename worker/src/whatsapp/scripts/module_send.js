// Sending a text through WhatsApp Web's own modules (contract §10), in two steps that the worker
// runs with its attempt recorded in between (`execute_async_script`; the last argument is the
// callback). `arguments[0]` is `{step, phone, text, id}`.
// - `prepare`: the app must be connected and synced. With `id` (an earlier attempt's planned
//   id), a message of ours under that id already in the page is the answer. Otherwise the
//   number must be on WhatsApp (`queryWidExists`); then the id to send under: `id`, or a new one.
// - `send`: add the message under `id` to its chat and hand it to WhatsApp, unless a message
//   with that id is there already.
// Answers: {notReady: STATE}, {missing: NAME}, {notOnWhatsApp: true},
// {id, serialized, ack} (ack null: no such message in the page yet), {error: TEXT}.
// Nothing here marks a chat read: never `sendSeen`.
const done = arguments[arguments.length - 1];
const args = arguments[0];
const WAIT_MS = 10000;
const within = (promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(what + ' did not answer')), WAIT_MS)),
  ]);
(async () => {
  const w = window;
  if (!(w.Debug && typeof w.Debug.VERSION === 'string' && typeof w.require === 'function')) {
    return { missing: 'window.require' };
  }
  const need = (name, method) => {
    let module = null;
    try {
      module = w.require(name);
    } catch (e) {
      module = null;
    }
    if (!module || (method && typeof module[method] !== 'function')) {
      throw { missing: method ? name + '.' + method : name };
    }
    return module;
  };
  const Socket = need('WAWebSocketModel').Socket;
  if (!Socket) throw { missing: 'WAWebSocketModel.Socket' };
  if (Socket.state !== 'CONNECTED' || !Socket.hasSynced) return { notReady: String(Socket.state) };
  const collections = need('WAWebCollections');
  const Msg = collections.Msg;
  const Chat = collections.Chat;
  if (!Msg || typeof Msg.get !== 'function') throw { missing: 'WAWebCollections.Msg' };
  const meModule = need('WAWebUserPrefsMeUser');
  const meOf = meModule.getMaybeMePnUser || meModule.getMaybeMeUser;
  if (typeof meOf !== 'function') throw { missing: 'WAWebUserPrefsMeUser.getMaybeMePnUser' };
  const me = meOf.call(meModule);
  if (!me) return { notReady: 'no own number' };
  const MsgKey = need('WAWebMsgKey', 'newId');
  const wid = need('WAWebWidFactory', 'createWid').createWid(args.phone + '@c.us');
  const known = () => (Chat && typeof Chat.get === 'function' ? Chat.get(wid) : null);
  const keyIn = (chat, id) => new MsgKey({ from: me, to: chat.id, id, selfDir: 'out' });
  const answer = (key, m) => ({ id: key.id, serialized: key._serialized, ack: m ? m.ack : null });
  if (args.step === 'prepare') {
    const chat = args.id ? known() : null;
    if (chat) {
      const key = keyIn(chat, args.id);
      const m = Msg.get(key._serialized);
      if (m) return answer(key, m);
    }
    const found = await within(need('WAWebQueryExistsJob', 'queryWidExists').queryWidExists(wid), 'queryWidExists');
    if (!found || !found.wid) return { notOnWhatsApp: true };
    const id = args.id || (await within(MsgKey.newId(), 'newId'));
    return { id, serialized: null, ack: null };
  }
  const send = need('WAWebSendMsgChatAction', 'addAndSendMsgToChat');
  let chat = known();
  if (!chat) {
    const found = await within(need('WAWebFindChatAction', 'findOrCreateLatestChat').findOrCreateLatestChat(wid), 'findOrCreateLatestChat');
    chat = found && found.chat;
  }
  if (!chat) return { error: 'no chat for ' + args.phone };
  const key = keyIn(chat, args.id);
  const there = Msg.get(key._serialized);
  if (there) return answer(key, there);
  const sending = send.addAndSendMsgToChat(chat, {
    id: key,
    ack: 0,
    body: args.text,
    from: me,
    to: chat.id,
    local: true,
    self: 'out',
    t: Math.floor(Date.now() / 1000),
    isNewMsg: true,
    type: 'chat',
  });
  const [added, result] = Array.isArray(sending) ? sending : [sending, null];
  if (result && typeof result.catch === 'function') result.catch(() => {});
  await within(Promise.resolve(added), 'addAndSendMsgToChat');
  return answer(key, Msg.get(key._serialized));
})().then(done, (e) => done(e && e.missing ? e : { error: String((e && e.message) || e) }));
