// The page script of the fake WhatsApp Web.
//
// The server owns the state: this script registers the page load (hello), polls the screen it
// must show every POLL_MS and renders it, reusing elements where it can (the QR's data-ref is
// rewritten in place, message rows are kept by data-id). A linked page keeps its token in
// IndexedDB and localStorage (both written before the main app shows; either is read on load).
// All text from the server is written with textContent.
//
// Unless the hello answer's `modules` is "none", the page also offers the app's own modules of
// contract section 10 (window.Debug, window.require): a layer fed from the same polls, so that
// states, QR refs, chats and messages (ids equal to the rows' data-id) match the DOM. That layer
// never opens a chat, marks anything read or navigates.
//
// Media (contract section 11): an open chat's footer has an attach button whose menu items own
// hidden file inputs; a chosen file opens a media editor over the chat, whose send button reads
// the file (FileReader, as base64) and posts it to /__fake/page/send-media under a MSGID the
// page chose, retried until taken. Media rows fetch their bytes from /__fake/page/media and show
// them through blob: URLs, kept alive while the chat is open. The selectors come from the hello
// answer's `media` knobs.
(function () {
  "use strict";

  var POLL_MS = 150;
  var TOKEN_KEY = "fake-web-token";
  var WID_KEYS = ["last-wid-md", "last-wid"];
  var IDB_NAME = "wawc";
  var IDB_STORE = "user";

  var TEXT = {
    modern: {
      qrLabel: "Scan this QR code to link a device!",
      phoneLink: "Log in with phone number",
      qrLink: "Log in with QR code",
      phoneInput: "Phone number",
      invalid: "Phone number shared via url isn't on WhatsApp.",
      title: "Log into WhatsApp Web",
    },
    legacy: {
      qrLabel: "Scan me!",
      phoneLink: "Link with phone number",
      qrLink: "Link with QR code",
      phoneInput: "Type your phone number to log in to WhatsApp",
      invalid: "Phone number shared via url is invalid.",
      title: "To use WhatsApp on your computer:",
    },
  };

  var root = document.getElementById("app");
  var params = new URLSearchParams(location.search);
  var sendPhone = location.pathname === "/send" ? params.get("phone") || "" : null;
  var prefill = location.pathname === "/send" ? params.get("text") || "" : "";

  var variant = "modern";
  var pageId = null;
  var stopped = false;
  var savedToken = null; // the token this page load has written to its storage
  var screen = "loading"; // the name of the screen built in #app
  var ui = {}; // elements of the current screen
  var invalidDismissed = false; // "OK" of the invalid-number dialog was clicked
  var byeSent = false;
  var urlCleaned = false;
  var mods = null; // the page's own modules (section 10), or null in the DOM-only build
  var mediaUi = null; // the hello answer's media selectors (section 11); chats open after it

  function t(key) {
    return TEXT[variant][key];
  }

  // Builds an element: attrs are attributes, except `text` (textContent) and `on*` (listeners).
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (key === "text") {
        node.textContent = value;
      } else if (key.slice(0, 2) === "on") {
        node.addEventListener(key.slice(2), value);
      } else if (value !== null && value !== undefined) {
        node.setAttribute(key, value);
      }
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    }).then(function (response) {
      if (!response.ok) throw new Error(path + " answered " + response.status);
      return response.json();
    });
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function prePlainText(ms, sender) {
    var d = new Date(ms);
    return "[" + clock(ms) + ", " + d.getDate() + "/" + (d.getMonth() + 1) + "/" + d.getFullYear() + "] " + sender + ": ";
  }

  // ----- storage: IndexedDB (durable at once) and localStorage (written lazily by Chromium) -----

  function idbOpen() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(IDB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(IDB_STORE);
      };
      request.onsuccess = function () {
        resolve(request.result);
      };
      request.onerror = function () {
        reject(request.error);
      };
      request.onblocked = function () {
        reject(new Error("IndexedDB blocked"));
      };
    });
  }

  // Runs `work(store)` in a transaction and resolves with its request's result once committed.
  function idb(mode, work) {
    return idbOpen().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(IDB_STORE, mode, { durability: "strict" });
        var request = work(tx.objectStore(IDB_STORE));
        tx.oncomplete = function () {
          db.close();
          resolve(request.result);
        };
        tx.onerror = tx.onabort = function () {
          db.close();
          reject(tx.error);
        };
      });
    });
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, sleep(ms).then(function () { return null; })]);
  }

  function readToken() {
    var token = localStorage.getItem(TOKEN_KEY);
    if (token) return Promise.resolve(token);
    return withTimeout(
      idb("readonly", function (store) {
        return store.get("token");
      }).catch(function () {
        return null;
      }),
      3000
    );
  }

  function saveSession(session) {
    var wid = JSON.stringify(session.wid);
    return idb("readwrite", function (store) {
      store.put(wid, session.key);
      return store.put(session.token, "token");
    }).then(function () {
      localStorage.setItem(TOKEN_KEY, session.token);
      localStorage.setItem(session.key, wid);
      savedToken = session.token;
    });
  }

  function clearSession() {
    localStorage.removeItem(TOKEN_KEY);
    WID_KEYS.forEach(function (key) {
      localStorage.removeItem(key);
    });
    return idb("readwrite", function (store) {
      return store.clear();
    }).catch(function () {});
  }

  function logout() {
    stopped = true;
    return clearSession().then(function () {
      var url = new URL(location.href);
      url.searchParams.set("post_logout", "1");
      location.replace(url.toString());
    });
  }

  // ----- screens -----

  function show(name, node) {
    releaseMedia();
    screen = name;
    ui = {};
    root.replaceChildren(node);
  }

  function animateProgress() {
    var value = 0;
    var timer = setInterval(function () {
      var bar = document.querySelector("#startup progress");
      if (!bar) {
        clearInterval(timer);
        return;
      }
      value = Math.min(99, value + (100 - value) / 12);
      bar.value = value;
    }, 100);
  }

  function refuse() {
    stopped = true;
    document.body.replaceChildren(h("div", { text: "WhatsApp works with Google Chrome 85+" }));
  }

  // Tells the server this page load is gone, so its QR or code is no longer on show.
  function sayBye() {
    if (byeSent || !pageId) return;
    byeSent = true;
    navigator.sendBeacon("/__fake/page/bye", JSON.stringify({ page: pageId }));
  }

  function closedScreen() {
    stopped = true;
    if (mods) mods.setState("UNLAUNCHED");
    sayBye();
    show("closed", h("div", { class: "closed" },
      h("div", { class: "closed-title", text: "WhatsApp Web is closed" }),
      h("div", { text: "Reload this page to use WhatsApp in this window." })));
  }

  function renderStartingPlain() {
    if (screen === "starting") return;
    show("starting", h("div", { class: "starting" },
      h("div", { class: "spinner" }),
      h("div", { class: "starting-title", text: "Starting chat" })));
  }

  // --- landing: QR, phone number, pairing code ---

  function landingFrame(content) {
    return h("div", { class: "landing" },
      h("div", { class: "landing-header", text: "WhatsApp" }),
      h("div", { class: "landing-card" }, content));
  }

  function renderLanding(landing) {
    if (landing.mode === "qr") renderQr(landing);
    else if (landing.mode === "phone") renderPhoneForm();
    else renderCode(landing.code);
  }

  function renderQr(landing) {
    if (screen !== "landing-qr") {
      var canvas = h("canvas", { "aria-label": t("qrLabel"), role: "img", width: "264", height: "264" });
      var holder = h("div", { class: "qr", "data-ref": landing.payload }, canvas);
      show("landing-qr", landingFrame(h("div", { class: "landing-qr" },
        h("div", { class: "landing-steps" },
          h("h1", { text: t("title") }),
          h("ol", {},
            h("li", { text: "Open WhatsApp on your phone" }),
            h("li", { text: "Tap Menu or Settings and select Linked devices" }),
            h("li", { text: "Tap Link a device" }),
            h("li", { text: "Point your phone to this screen to capture the QR code" })),
          h("a", { href: "#", class: "link", text: t("phoneLink"), onclick: onPhoneLink })),
        holder)));
      ui.holder = holder;
      ui.canvas = canvas;
      drawQr(landing.payload);
    } else if (ui.holder.getAttribute("data-ref") !== landing.payload) {
      ui.holder.setAttribute("data-ref", landing.payload);
      drawQr(landing.payload);
    }
    if (landing.expired && !ui.reload) {
      ui.holder.classList.add("expired");
      ui.reload = h("button", { class: "qr-reload", onclick: onReloadQr },
        h("span", { "data-icon": "refresh-large", class: "icon-refresh" }),
        h("div", { text: "Click to reload QR code" }));
      ui.holder.appendChild(ui.reload);
    } else if (!landing.expired && ui.reload) {
      ui.holder.classList.remove("expired");
      ui.reload.remove();
      ui.reload = null;
    }
  }

  function drawQr(payload) {
    var canvas = ui.canvas;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    fetch("/__fake/page/qr?payload=" + encodeURIComponent(payload), { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("qr " + response.status);
        return response.json();
      })
      .then(function (matrix) {
        if (!canvas.isConnected || canvas.parentNode.getAttribute("data-ref") !== payload) return;
        var quiet = 2;
        var cell = Math.floor(canvas.width / (matrix.size + 2 * quiet));
        var offset = Math.floor((canvas.width - cell * matrix.size) / 2);
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.fillStyle = "#122e31";
        for (var y = 0; y < matrix.size; y++) {
          for (var x = 0; x < matrix.size; x++) {
            if (matrix.modules.charCodeAt(y * matrix.size + x) === 49) {
              ctx.fillRect(offset + x * cell, offset + y * cell, cell, cell);
            }
          }
        }
      })
      .catch(function () {});
  }

  function onReloadQr(event) {
    event.preventDefault();
    post("/__fake/page/restart-qr", { page: pageId }).catch(function () {});
  }

  function onPhoneLink(event) {
    event.preventDefault();
    post("/__fake/page/phone-login", { page: pageId }).catch(function () {});
  }

  function onQrLink(event) {
    event.preventDefault();
    post("/__fake/page/restart-qr", { page: pageId }).catch(function () {});
  }

  function renderPhoneForm() {
    if (screen === "landing-phone") return;
    var input = h("input", { type: "text", inputmode: "tel", "aria-label": t("phoneInput"), placeholder: "+1 555 123 4567", autocomplete: "off" });
    var error = h("div", { class: "form-error", role: "alert" });
    var next = h("button", { class: "primary", text: "Next" });
    function submit(event) {
      event.preventDefault();
      var digits = input.value.replace(/\D/g, "");
      if (digits.length < 5 || digits.length > 15) {
        error.textContent = "Enter a valid phone number.";
        return;
      }
      error.textContent = "";
      next.disabled = true;
      post("/__fake/page/request-code", { page: pageId, phone: digits }).catch(function () {
        next.disabled = false;
        error.textContent = "Couldn't get a code. Try again.";
      });
    }
    next.addEventListener("click", submit);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") submit(event);
    });
    show("landing-phone", landingFrame(h("div", { class: "landing-phone" },
      h("h1", { text: "Enter phone number" }),
      h("div", { text: "Select a country and enter your WhatsApp phone number." }),
      input, error, next,
      h("a", { href: "#", class: "link", text: t("qrLink"), onclick: onQrLink }))));
  }

  function renderCode(code) {
    if (screen !== "landing-code") {
      var holder = h("div", { class: "link-code" });
      show("landing-code", landingFrame(h("div", { class: "landing-code" },
        h("h1", { text: "Enter code on phone" }),
        holder,
        h("ol", {},
          h("li", { text: "Open WhatsApp on your phone" }),
          h("li", { text: "Tap Menu or Settings and select Linked devices" }),
          h("li", { text: "Tap Link a device, then Link with phone number instead" }),
          h("li", { text: "Enter this code on your phone" })),
        h("a", { href: "#", class: "link", text: t("qrLink"), onclick: onQrLink }))));
      ui.codeHolder = holder;
    }
    if (ui.codeHolder.getAttribute("data-link-code") === code.split("").join(",")) return;
    ui.codeHolder.setAttribute("data-link-code", code.split("").join(","));
    var cells = [];
    code.split("").forEach(function (c, i) {
      if (i === 4) cells.push(h("span", { class: "code-dash", text: "-" }));
      cells.push(h("span", { class: "code-cell", text: c }));
    });
    ui.codeHolder.replaceChildren.apply(ui.codeHolder, cells);
  }

  // --- the main app ---

  function buildMain() {
    var grid = h("div", { role: "grid", "aria-label": "Chat list", class: "chat-grid" });
    var area = h("div", { class: "main-area" });
    show("main", h("div", { class: "two" },
      h("div", { id: "side", class: "side" },
        h("header", { class: "side-header" }, h("div", { class: "avatar" }), h("span", { class: "side-title", text: "Chats" })),
        h("div", { id: "pane-side", class: "pane-side" }, grid)),
      area));
    ui.grid = grid;
    ui.area = area;
    ui.rows = new Map();
    ui.order = "";
    ui.openJid = null;
    ui.dialogKind = null;
    showIntro();
  }

  function showIntro() {
    releaseMedia();
    ui.main = null;
    ui.openJid = null;
    ui.area.replaceChildren(h("div", { class: "intro" },
      h("h1", { text: "WhatsApp Web" }),
      h("div", { text: "Send and receive messages without keeping your phone online." })));
  }

  function renderMain(app, dialog) {
    if (screen !== "main") buildMain();
    renderChats(app.chats);
    if (app.open) renderOpenChat(app.open);
    else if (ui.main) showIntro();
    var kind = dialog || app.dialog;
    renderDialog(kind === "invalid" && invalidDismissed ? null : kind);
  }

  function renderChats(chats) {
    var seen = new Set();
    chats.forEach(function (chat) {
      seen.add(chat.jid);
      var row = ui.rows.get(chat.jid);
      if (!row) {
        row = makeChatRow(chat.jid);
        ui.rows.set(chat.jid, row);
      }
      updateChatRow(row, chat);
    });
    ui.rows.forEach(function (row, jid) {
      if (!seen.has(jid)) {
        row.node.remove();
        ui.rows.delete(jid);
      }
    });
    var order = chats.map(function (chat) { return chat.jid; }).join("|");
    if (order !== ui.order) {
      ui.order = order;
      chats.forEach(function (chat) {
        ui.grid.appendChild(ui.rows.get(chat.jid).node);
      });
      ui.grid.setAttribute("aria-rowcount", String(chats.length));
    }
  }

  function makeChatRow(jid) {
    var name = h("span", { class: "chat-name", dir: "auto" });
    var time = h("span", { class: "chat-time" });
    var last = h("span", { class: "chat-last", dir: "ltr" });
    var badgeSlot = h("span", { class: "chat-badge-slot" });
    var node = h("div", { role: "row", class: "chat-row" },
      h("div", { class: "chat", tabindex: "-1", role: "gridcell", "aria-selected": "false" },
        h("div", { class: "avatar" }),
        h("div", { class: "chat-body" },
          h("div", { class: "chat-top" }, name, time),
          h("div", { class: "chat-bottom" }, last, badgeSlot))));
    node.addEventListener("click", function () {
      post("/__fake/page/open", { page: pageId, jid: jid }).catch(function () {});
    });
    return { node: node, name: name, time: time, last: last, badgeSlot: badgeSlot, state: "" };
  }

  function updateChatRow(row, chat) {
    var state = JSON.stringify([chat.name, chat.unread, chat.last, chat.at]);
    if (row.state === state) return;
    row.state = state;
    row.name.textContent = chat.name;
    row.name.setAttribute("title", chat.name);
    row.time.textContent = chat.at ? clock(chat.at) : "";
    row.last.textContent = chat.last || "";
    if (chat.unread > 0) {
      var label = chat.unread === 1 ? "1 unread message" : chat.unread + " unread messages";
      row.badgeSlot.replaceChildren(h("span", { class: "badge", "aria-label": label, text: String(chat.unread) }));
    } else {
      row.badgeSlot.replaceChildren();
    }
  }

  function buildOpenChat(open) {
    var messages = h("div", { class: "messages", role: "application" });
    var box = h("div", {
      contenteditable: "true", role: "textbox", spellcheck: "true", "aria-label": "Type a message",
      title: "Type a message", "data-tab": "10", class: "compose-box", "aria-placeholder": "Type a message",
    });
    var slot = h("div", { class: "send-slot" });
    var title = h("span", { class: "chat-title", dir: "auto" });
    releaseMedia();
    var main = h("div", { id: "main", class: "main" },
      h("header", { class: "main-header" }, h("div", { class: "avatar" }), title),
      h("div", { class: "conversation" }, messages),
      h("footer", { class: "compose" }, buildAttach(), h("div", { class: "compose-wrap" }, box), slot));
    ui.area.replaceChildren(main);
    ui.main = main;
    ui.openJid = open.jid;
    ui.messages = messages;
    ui.box = box;
    ui.slot = slot;
    ui.title = title;
    ui.messageRows = new Map();
    ui.sendButton = null;
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        sendFromBox();
      }
    });
    box.addEventListener("input", updateSendSlot);
    if (prefill && sendPhone !== null && open.jid === sendPhone + "@c.us") {
      box.innerText = prefill;
      prefill = "";
      box.focus();
      var range = document.createRange();
      range.selectNodeContents(box);
      range.collapse(false);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    updateSendSlot();
  }

  function composeText() {
    return ui.box.innerText.replace(/\u00a0/g, " ").trim();
  }

  function updateSendSlot() {
    var hasText = composeText() !== "";
    if (ui.slot.firstChild && hasText === Boolean(ui.sendButton)) return;
    if (hasText) {
      ui.sendButton = variant === "modern"
        ? h("button", { "aria-label": "Send", class: "send-button", onclick: onSendClick },
            h("span", { "data-icon": "wds-ic-send-filled", "aria-hidden": "true" }))
        : h("button", { class: "send-button", onclick: onSendClick },
            h("span", { "data-icon": "send" }));
      ui.slot.replaceChildren(ui.sendButton);
    } else {
      ui.sendButton = null;
      ui.slot.replaceChildren(variant === "modern"
        ? h("button", { "aria-label": "Voice message", class: "mic-button" },
            h("span", { "data-icon": "mic-outlined", "aria-hidden": "true" }))
        : h("button", { class: "mic-button" }, h("span", { "data-icon": "ptt" })));
    }
  }

  function onSendClick(event) {
    event.preventDefault();
    sendFromBox();
  }

  function sendFromBox() {
    var text = composeText();
    if (text === "") return;
    var jid = ui.openJid;
    ui.box.textContent = "";
    updateSendSlot();
    post("/__fake/page/send", { page: pageId, jid: jid, text: text })
      .then(function (answer) {
        showSent(jid, answer, text, null, null);
      })
      .catch(function () {});
  }

  // The server took our message: the rows it had before it (that this page has not drawn
  // yet), then ours, Pending; `file` is the local file of a media message.
  function showSent(jid, answer, text, media, file) {
    if (ui.openJid !== jid || !ui.messageRows) return;
    answer.before.forEach(function (row) {
      addMessageRow(row);
    });
    var row = {
      data_id: "true_" + jid + "_" + answer.id,
      from_me: true,
      text: text,
      sender: "You",
      at: Date.now(),
      status: "Pending",
    };
    if (media) row.media = media;
    addMessageRow(row, file);
  }

  function renderOpenChat(open) {
    if (ui.openJid !== open.jid || !ui.main) buildOpenChat(open);
    if (ui.title.textContent !== open.name) {
      ui.title.textContent = open.name;
      ui.title.setAttribute("title", open.name);
    }
    open.messages.forEach(function (message) {
      var row = ui.messageRows.get(message.data_id);
      if (!row) addMessageRow(message);
      else if (message.status) setStatus(row, message.status);
    });
  }

  function statusIcon(status) {
    if (variant === "modern") return "status";
    if (status === "Pending") return "msg-time";
    if (status === "Sent") return "msg-check";
    return "msg-dblcheck";
  }

  function setStatus(row, status) {
    if (!row.status || row.current === status) return;
    row.current = status;
    row.status.setAttribute("data-icon", statusIcon(status));
    row.status.setAttribute("aria-label", " " + status + " ");
    row.status.className = "msg-status status-" + status.toLowerCase();
  }

  // `local` is the File just sent from this page, shown without fetching it back.
  function addMessageRow(message, local) {
    if (ui.messageRows.has(message.data_id)) return;
    var status = message.from_me ? h("span", { class: "msg-status" }) : null;
    // A media message without a caption has no text span, as on the real site.
    var text = !message.media || message.text
      ? h("span", { class: "selectable-text", dir: "ltr", text: message.text })
      : null;
    var file = message.media ? mediaPart(message.media, local instanceof Blob ? local : null) : null;
    var node = h("div", { role: "row", class: "message-row" },
      h("div", { "data-id": message.data_id, class: message.from_me ? "message-out" : "message-in" },
        file,
        h("div", { class: "copyable-text", "data-pre-plain-text": prePlainText(message.at, message.sender) }, text),
        h("div", { class: "msg-meta" }, h("span", { class: "msg-clock", text: clock(message.at) }), status)));
    var row = { node: node, status: status, current: null };
    if (message.status) setStatus(row, message.status);
    ui.messageRows.set(message.data_id, row);
    ui.messages.appendChild(node);
    node.scrollIntoView({ block: "end" });
  }

  // --- media (contract section 11) ---

  var PHOTO_VIDEO_TYPES = ["video/mp4", "video/3gpp", "video/quicktime"];
  var PHOTO_ACCEPT = {
    full: ["image/*"].concat(PHOTO_VIDEO_TYPES).join(","),
    image: "image/*",
  };

  // The attach button of the knob: a button or div[role=button] around span[data-icon], or
  // the oldest div[title=Attach] without one.
  function buildAttach() {
    var button;
    if (mediaUi.attach === "plus-rounded") {
      button = h("button", { type: "button", class: "attach-button" },
        h("span", { "data-icon": "plus-rounded", "aria-hidden": "true" }));
    } else if (mediaUi.attach === "title") {
      button = h("div", { role: "button", tabindex: "0", title: "Attach", class: "attach-button" },
        h("span", { class: "attach-glyph" }));
    } else {
      button = h("div", { role: "button", tabindex: "0", class: "attach-button" },
        h("span", { "data-icon": mediaUi.attach }));
    }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (ui.attachMenu) closeAttachMenu();
      else openAttachMenu();
    });
    ui.attachHolder = h("div", { class: "attach" }, button);
    return ui.attachHolder;
  }

  // The inputs exist while the menu is open, as on the real site.
  function openAttachMenu() {
    var photos = fileInput(PHOTO_ACCEPT[mediaUi.photo_accept] || PHOTO_ACCEPT.full, "photos");
    var documents = fileInput("*", "document");
    ui.attachMenu = h("div", { class: "attach-menu", role: "application" },
      h("ul", {},
        menuItem("Document", "document-filled-refreshed", documents),
        menuItem("Photos & videos", "media-filled-refreshed", photos)));
    ui.attachHolder.appendChild(ui.attachMenu);
  }

  function closeAttachMenu() {
    if (!ui.attachMenu) return;
    ui.attachMenu.remove();
    ui.attachMenu = null;
  }

  function menuItem(label, icon, input) {
    var item = h("li", { role: "button", tabindex: "0", class: "attach-item" },
      h("span", { "data-icon": icon, "aria-hidden": "true" }),
      h("span", { class: "attach-label", text: label }),
      input);
    item.addEventListener("click", function (event) {
      if (event.target !== input) input.click();
    });
    return item;
  }

  function fileInput(accept, via) {
    var input = h("input", { type: "file", accept: accept, style: "display: none;" });
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      closeAttachMenu();
      if (!file) return;
      // The real picker filters by `accept`; WebDriver's file path bypasses it, so check here.
      if (via === "photos" && !photoAccepts(file.type)) {
        toast("The file you tried adding is not supported.");
        return;
      }
      openEditor(file, via);
    });
    return input;
  }

  function photoAccepts(type) {
    if (type.indexOf("image/") === 0) return true;
    if (mediaUi.photo_accept === "image") return false;
    return PHOTO_VIDEO_TYPES.indexOf(type) !== -1;
  }

  function toast(text) {
    var node = h("div", { class: "toast", role: "alert", text: text });
    document.body.appendChild(node);
    setTimeout(function () {
      node.remove();
    }, 4000);
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " kB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function editorSendButton() {
    if (mediaUi.send === "send" || mediaUi.send === "wds") {
      return h("button", { type: "button", class: "editor-send" },
        h("span", { "data-icon": mediaUi.send === "send" ? "send" : "wds-ic-send-filled", "aria-hidden": "true" }));
    }
    return h("div", { role: "button", tabindex: "0", "aria-label": "Send", class: "editor-send" },
      h("span", { class: "send-glyph", "aria-hidden": "true" }));
  }

  // The media editor covers the chat (footer included) until it sends or closes.
  function openEditor(file, via) {
    closeEditor();
    var captionAttrs = { contenteditable: "true", role: "textbox", spellcheck: "true", "data-tab": "10", class: "caption-box" };
    captionAttrs[mediaUi.caption_label === "aria-placeholder" ? "aria-placeholder" : "aria-label"] = "Add a caption";
    var caption = h("div", captionAttrs);
    var send = editorSendButton();
    var close = h("div", { role: "button", tabindex: "0", "aria-label": "Close", class: "editor-close" },
      h("span", { "data-icon": "x", "aria-hidden": "true" }));
    var url = null;
    var preview;
    if (via === "photos") {
      url = URL.createObjectURL(file);
      preview = file.type.indexOf("video/") === 0
        ? h("video", { src: url, controls: "", class: "editor-media" })
        : h("img", { src: url, alt: "", class: "editor-media" });
    } else {
      preview = h("div", { class: "editor-document" },
        h("span", { "data-icon": "document", "aria-hidden": "true" }),
        h("div", { class: "doc-name", text: file.name }),
        h("div", { class: "doc-size", text: sizeText(file.size) }));
    }
    var node = h("div", { "data-testid": "media-editor", class: "media-editor" },
      h("div", { class: "editor-top" }, close, h("span", { class: "editor-file", text: file.name })),
      h("div", { class: "editor-preview" }, preview),
      h("div", { class: "editor-bottom" }, h("div", { class: "caption-wrap" }, caption), send));
    ui.editor = { node: node, file: file, via: via, caption: caption, url: url, jid: ui.openJid };
    close.addEventListener("click", function (event) {
      event.preventDefault();
      closeEditor();
    });
    send.addEventListener("click", function (event) {
      event.preventDefault();
      sendFromEditor();
    });
    caption.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        sendFromEditor();
      }
    });
    ui.main.appendChild(node);
    caption.focus();
  }

  function closeEditor() {
    if (!ui.editor) return;
    if (ui.editor.url) URL.revokeObjectURL(ui.editor.url);
    ui.editor.node.remove();
    ui.editor = null;
  }

  // The editor closes at once; the row comes once the fake took the file (as a text's does).
  function sendFromEditor() {
    var editor = ui.editor;
    if (!editor) return;
    var caption = editor.caption.innerText.replace(/\u00a0/g, " ").trim();
    var file = editor.file;
    var jid = editor.jid;
    var id = newMessageId();
    closeEditor();
    readBase64(file)
      .then(function (base64) {
        return postUntilTaken("/__fake/page/send-media", {
          page: pageId, jid: jid, id: id, via: editor.via, filename: file.name,
          mimetype: file.type, caption: caption, base64: base64,
        });
      })
      .then(function (answer) {
        showSent(jid, answer, caption, answer.media, file);
      })
      .catch(function (error) {
        console.error(error);
        toast("Couldn't send " + file.name + ".");
      });
  }

  function readBase64(file) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () {
        var url = String(reader.result);
        resolve(url.slice(url.indexOf(",") + 1));
      };
      reader.onerror = function () {
        reject(reader.error);
      };
      reader.readAsDataURL(file);
    });
  }

  // Posts until the fake answers: a status that isFinal (any 4xx if not given) is a refusal,
  // anything else is tried again (the fake takes the page's MSGID once, so a repeat is harmless).
  // Resolves with the answer; rejects with an Error carrying the refusal's status and reason, or
  // with stopped set when the page stops first.
  function postUntilTaken(path, body, isFinal) {
    var refused = isFinal || function (status) {
      return status >= 400 && status < 500;
    };
    var request = JSON.stringify(body);
    return new Promise(function (resolve, reject) {
      function retry() {
        setTimeout(attempt, SEND_RETRY_MS);
      }
      function attempt() {
        if (stopped) {
          var error = new Error("the page stopped");
          error.stopped = true;
          reject(error);
          return;
        }
        fetch(path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: request,
          cache: "no-store",
        }).then(function (response) {
          if (response.ok) return response.json().then(resolve, retry);
          if (refused(response.status)) {
            return response.json().catch(function () {
              return {};
            }).then(function (answer) {
              var refusal = new Error(answer.error || path + " answered " + response.status);
              refusal.status = response.status;
              refusal.reason = answer.error;
              reject(refusal);
            });
          }
          retry();
          return null;
        }, retry);
      }
      attempt();
    });
  }

  // The file part of a media row: an img, video or audio with a blob: src, or a document's name.
  function mediaPart(media, local) {
    if (media.kind === "document") {
      var name = media.filename || "file";
      return h("div", { class: "media-document" },
        h("span", { "data-icon": "document", "aria-hidden": "true" }),
        h("span", { class: "doc-name", title: name, dir: "auto", text: name }),
        h("span", { class: "doc-size", text: sizeText(media.size) }));
    }
    var tag = media.kind === "image" ? "img" : media.kind === "video" ? "video" : "audio";
    var element = h(tag, tag === "img" ? { alt: "", class: "media-img" } : { controls: "", preload: "metadata" });
    if (media.kind === "ptt") element.setAttribute("data-ptt", "true");
    showBlob(element, media.id, local);
    return h("div", { class: "media-" + media.kind }, element);
  }

  // Sets element.src to a blob: URL of the file, kept until the chat closes (releaseMedia).
  function showBlob(element, id, local) {
    var urls = ui.blobUrls;
    function use(blob) {
      var url = URL.createObjectURL(blob);
      urls.push(url);
      element.src = url;
    }
    if (local) {
      use(local);
      return;
    }
    var tries = 0;
    function load() {
      fetch("/__fake/page/media?page=" + encodeURIComponent(pageId) + "&id=" + encodeURIComponent(id), { cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("media answered " + response.status);
          return response.blob();
        })
        .then(function (blob) {
          if (ui.blobUrls === urls) use(blob);
        })
        .catch(function () {
          tries += 1;
          if (tries < 5 && ui.blobUrls === urls && !stopped) setTimeout(load, 500 * tries);
        });
    }
    load();
  }

  // The chat goes away: its editor, attach menu and blob: URLs with it.
  function releaseMedia() {
    closeEditor();
    ui.attachMenu = null;
    if (ui.blobUrls) {
      ui.blobUrls.forEach(function (url) {
        URL.revokeObjectURL(url);
      });
    }
    ui.blobUrls = [];
  }

  function renderDialog(kind) {
    if (ui.dialogKind === (kind || null)) return;
    ui.dialogKind = kind || null;
    if (ui.dialog) {
      ui.dialog.remove();
      ui.dialog = null;
    }
    if (!kind) return;
    var body;
    if (kind === "starting") {
      body = [h("div", { class: "spinner" }), h("div", { text: "Starting chat" })];
    } else if (kind === "invalid") {
      body = [
        h("div", { class: "dialog-text", text: t("invalid") }),
        h("div", { class: "dialog-buttons" }, h("button", { class: "primary", text: "OK", onclick: onInvalidOk })),
      ];
    } else if (kind === "conflict") {
      body = [
        h("div", { class: "dialog-text", text: "WhatsApp is open in another window. Click \"Use here\" to use WhatsApp in this window." }),
        h("div", { class: "dialog-buttons" },
          h("button", { class: "secondary", text: "Close", onclick: closedScreen }),
          h("button", { class: "primary", text: "Use here", onclick: onUseHereClick })),
      ];
    } else {
      body = [h("div", { class: "spinner" }), h("div", { text: "Connecting\u2026" })];
    }
    ui.dialog = h("div", { class: "overlay" }, h.apply(null, ["div", { role: "dialog", class: "dialog", "aria-modal": "true" }].concat(body)));
    root.firstChild.appendChild(ui.dialog);
  }

  function onInvalidOk(event) {
    event.preventDefault();
    invalidDismissed = true;
    renderDialog(null);
    post("/__fake/page/dismiss", { page: pageId }).catch(function () {});
  }

  function onUseHereClick(event) {
    event.preventDefault();
    useHere();
  }

  // "Use here": the page shows "Connecting…" and reloads into the main app.
  function useHere() {
    stopped = true;
    if (mods) mods.setState("OPENING");
    renderDialog("connecting");
    setTimeout(function () {
      location.reload();
    }, 800);
  }

  // Once a send link is handled, the URL becomes the site's root, as on the real site (a later
  // reload must not open the chat again); other parameters such as post_logout stay.
  function cleanSendUrl() {
    if (sendPhone === null || urlCleaned) return;
    urlCleaned = true;
    var url = new URL(location.href);
    url.pathname = "/";
    url.searchParams.delete("phone");
    url.searchParams.delete("text");
    history.replaceState(null, "", url.toString());
  }

  // ----- the page's own modules (contract section 10) -----
  //
  // Tiny Backbone look-alikes: models and collections with on/once/off/trigger; a collection
  // re-fires its models' events, as Backbone does. Listeners, indexes and methods are kept out
  // of the objects' own enumerable properties, so that a model handed back through WebDriver
  // serializes as its data.

  var WA_VERSION = "2.3000.1017054665";
  var SEND_RETRY_MS = 1000;

  function hidden(target, name, value) {
    Object.defineProperty(target, name, { value: value, writable: true, enumerable: false, configurable: true });
  }

  function listenersOf(target) {
    if (!Object.prototype.hasOwnProperty.call(target, "_events")) hidden(target, "_events", {});
    return target._events;
  }

  function eventNames(names) {
    return String(names).split(/\s+/).filter(Boolean);
  }

  function Emitter() {}

  function listen(target, names, fn, context, once) {
    if (typeof fn !== "function") return target;
    var events = listenersOf(target);
    eventNames(names).forEach(function (name) {
      (events[name] = events[name] || []).push({ fn: fn, context: context, once: once });
    });
    return target;
  }

  Emitter.prototype.on = function (names, fn, context) {
    return listen(this, names, fn, context, false);
  };

  Emitter.prototype.once = function (names, fn, context) {
    return listen(this, names, fn, context, true);
  };

  // off(), off(names), off(names, fn), off(names, fn, context), off(null, null, context).
  Emitter.prototype.off = function (names, fn, context) {
    var events = listenersOf(this);
    var which = names ? eventNames(names) : Object.keys(events);
    which.forEach(function (name) {
      if (!events[name]) return;
      events[name] = events[name].filter(function (listener) {
        return (fn && listener.fn !== fn) || (context && listener.context !== context);
      });
      if (events[name].length === 0) delete events[name];
    });
    return this;
  };

  // Calls the listeners of `name` with the arguments after it, then the "all" listeners with
  // the name first. A listener that throws does not stop the others.
  Emitter.prototype.trigger = function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    fire(this, name, args);
    if (name !== "all") fire(this, "all", [name].concat(args));
    return this;
  };

  function fire(target, name, args) {
    var events = listenersOf(target);
    (events[name] || []).slice().forEach(function (listener) {
      if (listener.once) {
        var at = events[name] ? events[name].indexOf(listener) : -1;
        if (at === -1) return;
        events[name].splice(at, 1);
        if (events[name].length === 0) delete events[name];
      }
      try {
        listener.fn.apply(listener.context === undefined ? target : listener.context, args);
      } catch (error) {
        console.error(error);
      }
    });
  }

  function Model(attributes) {
    if (attributes) Object.assign(this, attributes);
  }
  Model.prototype = Object.create(Emitter.prototype);
  Model.prototype.constructor = Model;

  Model.prototype.get = function (key) {
    return this[key];
  };

  // set({key: value, ...}) or set(key, value): fires change:KEY (model, value) for each
  // attribute that changed, then change (model).
  Model.prototype.set = function (changes, value) {
    if (typeof changes === "string") {
      var single = {};
      single[changes] = value;
      changes = single;
    }
    var self = this;
    var changed = Object.keys(changes).filter(function (key) {
      return self[key] !== changes[key];
    });
    changed.forEach(function (key) {
      self[key] = changes[key];
    });
    changed.forEach(function (key) {
      self.trigger("change:" + key, self, changes[key]);
    });
    if (changed.length > 0) self.trigger("change", self);
    return self;
  };

  // The string a collection indexes by: a string itself, or the `_serialized` of a wid, a key
  // or a model's id.
  function keyOf(id) {
    if (typeof id === "string") return id;
    if (id && typeof id === "object") {
      if (typeof id._serialized === "string") return id._serialized;
      if (id.id && typeof id.id._serialized === "string") return id.id._serialized;
    }
    return null;
  }

  function Collection() {
    var self = this;
    hidden(this, "_byId", new Map());
    hidden(this, "_forward", function () {
      self.trigger.apply(self, arguments);
    });
    this.models = [];
    this.length = 0;
  }
  Collection.prototype = Object.create(Emitter.prototype);
  Collection.prototype.constructor = Collection;

  Collection.prototype.get = function (id) {
    var key = keyOf(id);
    return key === null ? undefined : this._byId.get(key);
  };

  Collection.prototype.getModelsArray = function () {
    return this.models.slice();
  };

  Collection.prototype.toArray = Collection.prototype.getModelsArray;

  Collection.prototype.at = function (index) {
    return this.models[index];
  };

  ["forEach", "map", "filter", "find", "some", "every"].forEach(function (name) {
    Collection.prototype[name] = function (fn, context) {
      return this.models.slice()[name](fn, context);
    };
  });

  // Adds a model (once) and fires add (model, collection, options).
  Collection.prototype.add = function (model) {
    var key = model.id._serialized;
    var known = this._byId.get(key);
    if (known) return known;
    this._byId.set(key, model);
    this.models.push(model);
    this.length = this.models.length;
    model.on("all", this._forward);
    this.trigger("add", model, this, {});
    return model;
  };

  function Wid(user, server) {
    this.server = server;
    this.user = user;
    this._serialized = user + "@" + server;
  }

  Wid.prototype.toString = function () {
    return this._serialized;
  };

  Wid.prototype.isGroup = function () {
    return this.server === "g.us";
  };

  Wid.prototype.isUser = function () {
    return this.server === "c.us" || this.server === "lid";
  };

  Wid.prototype.equals = function (other) {
    return keyOf(other) === this._serialized;
  };

  // "DIGITS@c.us", "GROUP@g.us", "ID@lid" (or a wid); a device part ("DIGITS:12@c.us") is
  // dropped, plain digits are a person.
  function createWid(value) {
    var text = value && typeof value === "object" ? keyOf(value) : value;
    if (typeof text !== "string" || text.trim() === "") {
      throw new Error("createWid: not a wid: " + String(value));
    }
    text = text.trim();
    var at = text.indexOf("@");
    var user = (at === -1 ? text : text.slice(0, at)).split(":")[0];
    var server = at === -1 ? "c.us" : text.slice(at + 1);
    return new Wid(user, server);
  }

  function widPlain(wid) {
    return wid ? { _serialized: wid._serialized, user: wid.user, server: wid.server } : undefined;
  }

  function fillKey(key, fromMe, remote, id, participant, suffix) {
    key.fromMe = fromMe;
    key.remote = remote;
    key.id = id;
    key.participant = participant;
    key._serialized = fromMe + "_" + remote._serialized + "_" + id + suffix;
  }

  // require("WAWebMsgKey") is this constructor: new MsgKey({from, to, id, selfDir, participant}).
  function MsgKey(options) {
    if (!(this instanceof MsgKey)) return new MsgKey(options);
    options = options || {};
    if (options.id === undefined || options.id === null || options.id === "") {
      throw new Error("MsgKey: no id");
    }
    var remote = createWid(options.to !== undefined ? options.to : options.remote);
    var fromMe = options.selfDir === "out" || (options.selfDir === undefined && options.fromMe === true);
    var participant = options.participant ? createWid(options.participant) : undefined;
    fillKey(this, fromMe, remote, String(options.id), participant, "");
  }

  MsgKey.prototype.toString = function () {
    return this._serialized;
  };

  MsgKey.newId = function () {
    return Promise.resolve(newMessageId());
  };

  // The key of a message of the feed: an incoming group message's `_serialized` ends with its
  // author, as its row's data-id does.
  function feedKey(item, remote, author) {
    var key = Object.create(MsgKey.prototype);
    fillKey(key, item.from_me, remote, item.id, author, author ? "_" + author._serialized : "");
    return key;
  }

  // "3EB0" and 16 upper-case hex digits, as the real site's own ids.
  function newMessageId() {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return "3EB0" + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("").toUpperCase();
  }

  function Msg(attributes) {
    Model.call(this, attributes);
  }
  Msg.prototype = Object.create(Model.prototype);
  Msg.prototype.constructor = Msg;

  Msg.prototype.serialize = function () {
    return {
      id: {
        fromMe: this.id.fromMe,
        remote: widPlain(this.id.remote),
        id: this.id.id,
        participant: widPlain(this.id.participant),
        _serialized: this.id._serialized,
      },
      body: this.body,
      type: this.type,
      caption: this.caption,
      mimetype: this.mimetype,
      filename: this.filename,
      size: this.size,
      t: this.t,
      from: widPlain(this.from),
      to: widPlain(this.to),
      author: widPlain(this.author),
      notifyName: this.notifyName,
      ack: this.ack,
      isNewMsg: this.isNewMsg,
    };
  };

  function ChatModel(id, name, unreadCount, t) {
    Model.call(this, {
      id: id,
      name: name,
      formattedTitle: name,
      unreadCount: unreadCount,
      t: t,
      isGroup: id.server === "g.us",
    });
    this.msgs = new Collection();
  }
  ChatModel.prototype = Object.create(Model.prototype);
  ChatModel.prototype.constructor = ChatModel;

  ChatModel.prototype.serialize = function () {
    return {
      id: widPlain(this.id),
      name: this.name,
      formattedTitle: this.formattedTitle,
      unreadCount: this.unreadCount,
      t: this.t,
      isGroup: this.isGroup,
    };
  };

  // Methods stay out of for-in as well: WebDriver walks inherited enumerable properties too.
  [Emitter, Model, Collection, Wid, MsgKey, Msg, ChatModel].forEach(function (type) {
    Object.keys(type.prototype).forEach(function (name) {
      hidden(type.prototype, name, type.prototype[name]);
    });
  });

  // Defines window.Debug and window.require for this page load and answers the hooks the rest
  // of the script calls: update(view) after each rendered poll, setState, loggedOut.
  function installModules(hello) {
    var decryptDelay = Number(hello.decrypt_delay_ms) || 0;
    var missing = new Set(hello.missing || []);
    var me = null; // the account's digits once the app view came

    var socket = new Model({ state: "OPENING", hasSynced: false });
    hidden(socket, "takeover", function () {
      if (ui.dialogKind === "conflict") useHere();
    });
    var conn = new Model({ ref: null });
    var cmd = new Model();
    hidden(cmd, "refreshQR", function () {
      return post("/__fake/page/restart-qr", { page: pageId }).then(function () {}, function () {});
    });
    var msgs = new Collection();
    var chats = new Collection();

    function meWid() {
      return me === null ? null : createWid(me + "@c.us");
    }

    var userPrefs = hello.modules === "older" ? { getMaybeMeUser: meWid } : { getMaybeMePnUser: meWid };

    // A chat model created by the page alone, as the real site does for a number never written to.
    function localChat(wid, name, t) {
      return chats.add(new ChatModel(wid, name || "+" + wid.user, 0, t || 0));
    }

    function chatOf(value) {
      if (value instanceof ChatModel) return value;
      if (value && value.chat instanceof ChatModel) return value.chat;
      return chats.get(value) || null;
    }

    function findOrCreateLatestChat(wid) {
      return new Promise(function (resolve) {
        var id = createWid(wid);
        var chat = chats.get(id);
        if (chat) resolve({ chat: chat, created: false });
        else resolve({ chat: localChat(id), created: true });
      });
    }

    // The message model is added at once; the server gets it under its key's id, retried every
    // second until accepted (the server stores an id once). Its ack then follows the feed.
    function addAndSendMsgToChat(chat, props) {
      props = props || {};
      var target = chatOf(chat);
      var key;
      try {
        if (!target) {
          var wid = createWid(chat && typeof chat.id === "object" ? chat.id : chat || props.to);
          target = chats.get(wid) || localChat(wid);
        }
        key = props.id && typeof props.id._serialized === "string" && props.id.id
          ? props.id
          : new MsgKey({ to: target.id, id: newMessageId(), selfDir: "out" });
      } catch (error) {
        var failed = Promise.reject(error);
        return [failed, failed];
      }
      var msg = msgs.get(key._serialized);
      if (!msg) {
        msg = new Msg({
          id: key,
          body: props.body === undefined || props.body === null ? "" : String(props.body),
          type: props.type || "chat",
          t: props.t || Math.floor(Date.now() / 1000),
          from: meWid(),
          to: target.id,
          author: undefined,
          notifyName: "",
          ack: 0,
          isNewMsg: true,
        });
        target.msgs.add(msg);
        msgs.add(msg);
      }
      var sendResult = postUntilTaken(
        "/__fake/page/send",
        { page: pageId, jid: target.id._serialized, text: msg.body, id: key.id },
        function (status) {
          return status === 400 || status === 409;
        }
      ).then(function () {
        return { messageSendResult: "OK" };
      }, function (error) {
        // A page going away never settles; the next page load's feed shows the message if it
        // went out.
        if (error.stopped) return new Promise(function () {});
        // Refused for good (empty text, not a person's chat, id taken, page not linked).
        msg.set({ ack: -1 });
        return { messageSendResult: "ERROR", error: error.reason || "HTTP " + error.status };
      });
      return [Promise.resolve(msg), sendResult];
    }

    function queryWidExists(wid) {
      return new Promise(function (resolve) {
        resolve(createWid(wid));
      }).then(function (id) {
        var url = "/__fake/page/exists?page=" + encodeURIComponent(pageId) + "&phone=" + encodeURIComponent(id.user);
        return fetch(url, { cache: "no-store" }).then(function (response) {
          if (!response.ok) throw new Error("exists answered " + response.status);
          return response.json();
        }).then(function (answer) {
          return answer.exists ? { wid: createWid(id.user + "@c.us") } : null;
        });
      });
    }

    // sendSeen(chat) or sendSeen({chat}): marks the chat read on the server.
    function sendSeen(chat) {
      var jid = keyOf(chat && chat.chat ? chat.chat : chat);
      if (jid === null) return Promise.reject(new Error("sendSeen: no chat"));
      return post("/__fake/page/seen", { page: pageId, jid: jid }).then(function () {
        return true;
      });
    }

    var registry = {
      WAWebSocketModel: { Socket: socket },
      WAWebConnModel: { Conn: conn },
      WAWebCmd: { Cmd: cmd },
      WAWebUserPrefsMeUser: userPrefs,
      WAWebCollections: { Msg: msgs, Chat: chats },
      WAWebWidFactory: { createWid: createWid },
      WAWebFindChatAction: { findOrCreateLatestChat: findOrCreateLatestChat },
      WAWebMsgKey: MsgKey,
      WAWebSendMsgChatAction: { addAndSendMsgToChat: addAndSendMsgToChat },
      WAWebQueryExistsJob: { queryWidExists: queryWidExists },
      WAWebUpdateUnreadChatAction: { sendSeen: sendSeen },
    };

    window.Debug = { VERSION: WA_VERSION };
    window.require = function (name) {
      if (!Object.prototype.hasOwnProperty.call(registry, name) || missing.has(name)) {
        throw new Error("Cannot find module '" + name + "'");
      }
      return registry[name];
    };

    function setState(state) {
      socket.set({ state: state });
    }

    function applyChats(items) {
      var order = [];
      items.forEach(function (item) {
        var t = item.at ? Math.floor(item.at / 1000) : 0;
        var chat = chats.get(item.jid);
        if (chat) chat.set({ name: item.name, formattedTitle: item.name, unreadCount: item.unread, t: t });
        else chat = chats.add(new ChatModel(createWid(item.jid), item.name, item.unread, t));
        order.push(chat);
      });
      var listed = new Set(order);
      chats.models.forEach(function (chat) {
        if (!listed.has(chat)) order.push(chat);
      });
      chats.models.splice.apply(chats.models, [0, chats.models.length].concat(order));
    }

    // New feed entries become models (an incoming new one is a ciphertext until decryptDelay
    // has passed); known ones follow the feed's ack.
    function applyFeed(items) {
      items.forEach(function (item) {
        var remote = createWid(item.chat);
        var author = item.author ? createWid(item.author) : undefined;
        var key = feedKey(item, remote, author);
        var msg = msgs.get(key._serialized);
        if (msg) {
          if (item.ack > msg.ack) msg.set({ ack: item.ack });
          return;
        }
        var sealed = item.new && !item.from_me;
        msg = new Msg(Object.assign({
          id: key,
          body: sealed ? "" : item.text,
          type: sealed ? "ciphertext" : item.kind,
          t: Math.floor(item.at / 1000),
          from: item.from_me ? meWid() : remote,
          to: item.from_me ? remote : meWid(),
          author: author,
          notifyName: item.name || "",
          ack: item.ack,
          isNewMsg: item.new,
        }, sealed ? {} : mediaAttributes(item)));
        var chat = chats.get(remote) || localChat(remote, item.name, msg.t);
        chat.msgs.add(msg);
        msgs.add(msg);
        if (sealed) {
          setTimeout(function () {
            msg.set(Object.assign({ body: item.text, type: item.kind }, mediaAttributes(item)));
          }, decryptDelay);
        }
      });
    }

    // A media message's model also has its caption (= body), mimetype, filename and size.
    function mediaAttributes(item) {
      if (!item.media) return {};
      return {
        caption: item.text,
        mimetype: item.media.mimetype,
        filename: item.media.filename === null ? undefined : item.media.filename,
        size: item.media.size,
      };
    }

    // Called once the view is rendered, so that every state matches what the DOM shows.
    function update(view) {
      if (view.screen === "loading" || (view.screen === "starting" && !view.app)) {
        setState("OPENING");
      } else if (view.screen === "landing") {
        var landing = view.landing;
        var expired = landing.mode === "qr" && landing.expired;
        setState(expired ? "UNPAIRED_IDLE" : "UNPAIRED");
        conn.set({ ref: landing.mode === "qr" && !expired ? landing.payload : null });
      } else if (view.app) {
        me = view.app.me;
        conn.set({ ref: null });
        setState(ui.dialogKind === "conflict" ? "CONFLICT" : "CONNECTED");
        applyChats(view.app.chats);
        applyFeed(view.app.feed);
        if (screen === "main") socket.set({ hasSynced: true });
      }
    }

    return {
      update: update,
      setState: setState,
      loggedOut: function () {
        cmd.trigger("logout");
      },
    };
  }

  // ----- the loop -----

  function ensureSaved(session) {
    if (savedToken === session.token) return Promise.resolve();
    return saveSession(session);
  }

  function render(view) {
    switch (view.screen) {
      case "loading":
        return Promise.resolve();
      case "logout":
        if (mods) mods.loggedOut();
        return logout();
      case "starting":
        if (!view.app) {
          renderStartingPlain();
          return Promise.resolve();
        }
        return ensureSaved(view.app.session).then(function () {
          if (variant === "modern") renderMain(view.app, "starting");
          else renderStartingPlain();
        });
      case "landing":
        renderLanding(view.landing);
        return Promise.resolve();
      case "main":
        return ensureSaved(view.app.session).then(function () {
          renderMain(view.app, null);
          cleanSendUrl();
        });
      default:
        return Promise.resolve();
    }
  }

  function pollLoop() {
    if (stopped) return;
    fetch("/__fake/page/poll?page=" + encodeURIComponent(pageId), { cache: "no-store" })
      .then(function (response) {
        if (response.status === 404) {
          // The server forgot this page (it restarted): load the site again.
          stopped = true;
          location.reload();
          return null;
        }
        if (!response.ok) throw new Error("poll answered " + response.status);
        return response.json();
      })
      .then(function (view) {
        if (!view || stopped) return null;
        return render(view).then(function () {
          if (mods && !stopped) mods.update(view);
        });
      })
      .catch(function () {})
      .then(function () {
        if (!stopped) setTimeout(pollLoop, POLL_MS);
      });
  }

  function helloLoop(token) {
    return post("/__fake/page/hello", { token: token, send_phone: sendPhone }).catch(function () {
      return sleep(500).then(function () {
        return helloLoop(token);
      });
    });
  }

  function boot() {
    if (navigator.userAgent.indexOf("HeadlessChrome") !== -1) {
      refuse();
      return;
    }
    animateProgress();
    readToken()
      .then(function (token) {
        return helloLoop(token || null);
      })
      .then(function (hello) {
        variant = hello.variant;
        pageId = hello.page;
        mediaUi = hello.media;
        if (hello.modules && hello.modules !== "none") mods = installModules(hello);
        if (hello.stale_token) {
          if (mods) mods.loggedOut();
          return logout();
        }
        window.addEventListener("pagehide", sayBye);
        pollLoop();
        return null;
      });
  }

  boot();
})();
