// The worker's hook in WhatsApp Web's own modules (contract §10), run at the start of every
// snapshot. `arguments[1].drain` says whether to hand over the queued events.
//
// 1. Nothing until the app's code has loaded (`Debug.VERSION`, `window.require`): then null.
// 2. Once per page load (a load drops everything installed): look up every module and method
//    the worker may use, note which are there (`caps`), and listen to what is: `Msg` `add` for
//    messages arriving now (`isNewMsg`, not ours), `Msg` `change:ack` for our messages.
// 3. Once the app has synced, queue what arrived before anyone listened: new messages already
//    loaded, the unread messages of every chat (nothing here marks them read), and the acks of
//    our recent messages. The supervisor stores each message once, so repeats are harmless.
// 4. Each call: the socket's state, whether it synced, the own number, and (with `drain`) the
//    queue. A message still `ciphertext` waits in `pending` until it is decrypted. A media
//    message carries what its model says of its file (`mimetype`, `filename`, `size`).
const wamuxModules = ((drain) => {
  const w = window;
  if (!(w.Debug && typeof w.Debug.VERSION === 'string' && typeof w.require === 'function')) {
    return null;
  }
  const QUEUE_MAX = 10000;
  const REPORTED_MAX = 20000;
  const UNREAD_PER_CHAT = 100;
  const ACKS_CAUGHT_UP = 200;
  const SYSTEM_TYPES = new Set([
    'ciphertext', 'e2e_notification', 'notification', 'notification_template', 'gp2',
    'call_log', 'protocol', 'revoked', 'broadcast_notification',
  ]);
  const need = (name) => {
    try {
      return w.require(name) || null;
    } catch (e) {
      return null;
    }
  };
  const isFn = (o, k) => !!o && typeof o[k] === 'function';
  const wid = (x) => (x == null ? null : typeof x === 'string' ? x : x._serialized || null);
  let hook = w.__wamux;
  if (!hook) {
    const socketModule = need('WAWebSocketModel');
    const cmdModule = need('WAWebCmd');
    const collections = need('WAWebCollections');
    const msgKey = need('WAWebMsgKey');
    hook = {
      Socket: socketModule && socketModule.Socket,
      Cmd: cmdModule && cmdModule.Cmd,
      me: need('WAWebUserPrefsMeUser'),
      Msg: collections && collections.Msg,
      Chat: collections && collections.Chat,
      queue: [],
      pending: new Map(),
      reported: new Set(),
      caughtUp: false,
    };
    hook.caps = {
      socket: !!hook.Socket && typeof hook.Socket.state === 'string',
      takeover: isFn(hook.Socket, 'takeover'),
      refreshQr: isFn(hook.Cmd, 'refreshQR'),
      me: isFn(hook.me, 'getMaybeMePnUser') || isFn(hook.me, 'getMaybeMeUser'),
      msgEvents: isFn(hook.Msg, 'on') && isFn(hook.Msg, 'get'),
      chats: isFn(hook.Chat, 'get'),
      widFactory: isFn(need('WAWebWidFactory'), 'createWid'),
      findChat: isFn(need('WAWebFindChatAction'), 'findOrCreateLatestChat'),
      msgKey: typeof msgKey === 'function' && isFn(msgKey, 'newId'),
      addAndSend: isFn(need('WAWebSendMsgChatAction'), 'addAndSendMsgToChat'),
      queryExists: isFn(need('WAWebQueryExistsJob'), 'queryWidExists'),
    };
    const push = (event) => {
      hook.queue.push(event);
      if (hook.queue.length > QUEUE_MAX) hook.queue.shift();
    };
    const consider = (m) => {
      if (!m || !m.id || m.id.fromMe) return;
      const key = m.id._serialized;
      if (!key || hook.reported.has(key)) return;
      const chat = wid(m.id.remote) || wid(m.from);
      if (!chat || chat === 'status@broadcast') return;
      if (m.type === 'ciphertext') {
        hook.pending.set(key, m);
        return;
      }
      hook.pending.delete(key);
      if (SYSTEM_TYPES.has(m.type)) return;
      hook.reported.add(key);
      if (hook.reported.size > REPORTED_MAX) hook.reported.delete(hook.reported.values().next().value);
      const text = m.type !== 'chat' && typeof m.caption === 'string' ? m.caption : m.body;
      push({
        kind: 'msg',
        id: m.id.id,
        chat,
        author: wid(m.author) || wid(m.id.participant),
        name: m.notifyName || null,
        type: m.type || 'chat',
        body: typeof text === 'string' ? text : '',
        t: typeof m.t === 'number' ? m.t : null,
        mimetype: typeof m.mimetype === 'string' ? m.mimetype : null,
        filename: typeof m.filename === 'string' ? m.filename : null,
        size: typeof m.size === 'number' && isFinite(m.size) && m.size >= 0 ? Math.floor(m.size) : null,
      });
    };
    const ackOf = (m, ack) => {
      if (m && m.id && m.id.fromMe && typeof ack === 'number') push({ kind: 'ack', id: m.id.id, ack });
    };
    hook.consider = consider;
    hook.ackOf = ackOf;
    if (hook.caps.msgEvents) {
      hook.Msg.on('add', (m) => {
        try {
          if (m && m.isNewMsg) consider(m);
        } catch (e) {}
      });
      hook.Msg.on('change:ack', (m, ack) => {
        try {
          ackOf(m, typeof ack === 'number' ? ack : m.ack);
        } catch (e) {}
      });
    }
    w.__wamux = hook;
  }
  const models = (c) => (isFn(c, 'getModelsArray') ? c.getModelsArray() : (c && c.models) || []);
  const Socket = hook.Socket;
  const synced = !!(Socket && Socket.hasSynced);
  try {
    if (synced && !hook.caughtUp && hook.caps.msgEvents) {
      hook.caughtUp = true;
      const ours = [];
      for (const m of models(hook.Msg)) {
        if (m && m.isNewMsg) hook.consider(m);
        if (m && m.id && m.id.fromMe && m.ack >= 2) ours.push(m);
      }
      ours.slice(-ACKS_CAUGHT_UP).forEach((m) => hook.ackOf(m, m.ack));
      for (const chat of models(hook.Chat)) {
        const unread = chat && chat.unreadCount > 0 ? Math.min(chat.unreadCount, UNREAD_PER_CHAT) : 0;
        if (!unread) continue;
        const incoming = models(chat.msgs).filter((m) => m && m.id && !m.id.fromMe);
        incoming.slice(-unread).forEach(hook.consider);
      }
    }
    for (const [key, m] of Array.from(hook.pending)) {
      const now = (hook.Msg && hook.Msg.get(key)) || m;
      if (now.type !== 'ciphertext') hook.consider(now);
    }
  } catch (e) {}
  let me = null;
  try {
    const user = isFn(hook.me, 'getMaybeMePnUser')
      ? hook.me.getMaybeMePnUser()
      : isFn(hook.me, 'getMaybeMeUser')
        ? hook.me.getMaybeMeUser()
        : null;
    me = user ? wid(user) || (user.user ? user.user + '@c.us' : null) : null;
  } catch (e) {}
  const events = drain ? hook.queue.splice(0, hook.queue.length) : [];
  return {
    version: w.Debug.VERSION,
    caps: hook.caps,
    state: Socket && Socket.state != null ? String(Socket.state) : null,
    synced,
    me,
    events,
  };
})(arguments[1] && arguments[1].drain);
