// The fake phone page: polls /__fake/phone/state and acts through the control API.
// Every text goes through textContent: nothing from the server is parsed as HTML.
(function () {
  "use strict";

  var NUMBER_KEY = "fake-phone-number";
  var log = document.getElementById("log");
  var qrItems = new Map(); // payload -> { node, countdown }
  var lastCodes = "";
  var lastAccounts = "";
  var lastInvalid = null;

  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function say(text, isError) {
    log.textContent = text;
    log.className = isError ? "error" : "";
  }

  function call(path, body, what) {
    return fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (response) {
        return response.text().then(function (text) {
          say(what + ": " + response.status + " " + text, !response.ok);
          refresh();
        });
      })
      .catch(function (error) {
        say(what + ": " + error, true);
      });
  }

  function digits(value) {
    return value.replace(/\D/g, "");
  }

  function rememberedNumber() {
    return localStorage.getItem(NUMBER_KEY) || "";
  }

  function seconds(ms) {
    return Math.ceil(ms / 1000) + " s left";
  }

  function renderQrs(qrs) {
    var holder = document.getElementById("qrs");
    var seen = new Set();
    qrs.forEach(function (qr) {
      seen.add(qr.payload);
      var item = qrItems.get(qr.payload);
      if (!item) {
        var input = h("input", { inputmode: "tel", placeholder: "phone number", "aria-label": "Phone number" });
        input.value = rememberedNumber();
        var button = h("button", { type: "button" });
        var label = function () {
          button.textContent = "Scan as +" + digits(input.value);
        };
        input.addEventListener("input", label);
        label();
        button.addEventListener("click", function () {
          var phone = digits(input.value);
          if (!phone) {
            say("type a phone number first", true);
            return;
          }
          localStorage.setItem(NUMBER_KEY, phone);
          call("/__fake/scan", { qr: qr.payload, phone: phone }, "scan as +" + phone);
        });
        var countdown = h("span", { class: "muted" });
        item = { node: h("div", { class: "item" }, h("code", { text: qr.payload }), h("br"), input, button, countdown), countdown: countdown };
        qrItems.set(qr.payload, item);
        holder.appendChild(item.node);
      }
      item.countdown.textContent = " " + seconds(qr.expires_in_ms);
    });
    qrItems.forEach(function (item, payload) {
      if (!seen.has(payload)) {
        item.node.remove();
        qrItems.delete(payload);
      }
    });
    if (qrs.length === 0 && !holder.querySelector(".none")) holder.appendChild(h("div", { class: "muted none", text: "None: open the site in a browser." }));
    if (qrs.length > 0) holder.querySelectorAll(".none").forEach(function (node) { node.remove(); });
  }

  function renderCodes(codes) {
    var key = JSON.stringify(codes.map(function (c) { return [c.code, c.phone]; }));
    if (key === lastCodes) return;
    lastCodes = key;
    var holder = document.getElementById("codes");
    if (codes.length === 0) {
      holder.replaceChildren(h("div", { class: "muted", text: "None." }));
      return;
    }
    holder.replaceChildren.apply(holder, codes.map(function (code) {
      var shown = code.code.slice(0, 4) + "-" + code.code.slice(4);
      return h("div", { class: "item" },
        h("code", { text: shown }), " typed for +" + code.phone + " ",
        h("button", {
          type: "button",
          text: "Enter on the phone of +" + code.phone,
          onclick: function () {
            call("/__fake/link-code", { code: code.code, phone: code.phone }, "pairing code " + shown);
          },
        }));
    }));
  }

  function renderAccounts(accounts) {
    var key = JSON.stringify(accounts);
    if (key === lastAccounts) return;
    lastAccounts = key;
    var holder = document.getElementById("accounts");
    if (accounts.length === 0) {
      holder.replaceChildren(h("div", { class: "muted", text: "None." }));
      return;
    }
    holder.replaceChildren.apply(holder, accounts.map(function (account) {
      var chats = h("table", {}, h("tr", {}, h("th", { text: "chat" }), h("th", { text: "name" }), h("th", { text: "unread" }), h("th", { text: "last message" })));
      account.chats.forEach(function (chat) {
        chats.appendChild(h("tr", {}, h("td", { text: chat.jid }), h("td", { text: chat.name }), h("td", { text: String(chat.unread) }), h("td", { text: chat.last || "" })));
      });
      var sent = h("table", {}, h("tr", {}, h("th", { text: "id" }), h("th", { text: "to" }), h("th", { text: "text" }), h("th", { text: "status" }), h("th", { text: "" })));
      account.sent.forEach(function (message) {
        sent.appendChild(h("tr", {},
          h("td", {}, h("code", { text: message.id })),
          h("td", { text: "+" + message.to }),
          h("td", { text: message.text }),
          h("td", { text: message.status }),
          h("td", {},
            h("button", { type: "button", text: "Delivered", onclick: function () { call("/__fake/ack", { id: message.id, status: "delivered" }, "ack " + message.id); } }),
            h("button", { type: "button", text: "Read", onclick: function () { call("/__fake/ack", { id: message.id, status: "read" }, "read " + message.id); } }))));
      });
      return h("div", { class: "item" },
        h("strong", { text: "+" + account.phone }),
        h("span", { class: "muted", text: " devices: " + (account.devices.join(", ") || "none") + "; pages on show: " + account.pages_on_show + " " }),
        h("button", { type: "button", text: "Unlink", onclick: function () { call("/__fake/unlink", { phone: account.phone }, "unlink +" + account.phone); } }),
        h("button", { type: "button", text: "Open in another window (conflict)", onclick: function () { call("/__fake/conflict", { phone: account.phone }, "conflict +" + account.phone); } }),
        h("button", { type: "button", text: "Message it", onclick: function () {
          document.querySelector("#incoming [name=to]").value = account.phone;
          document.querySelector("#incoming [name=text]").focus();
        } }),
        h("div", { class: "muted", text: "Chats" }), chats,
        h("div", { class: "muted", text: "Sent by this account" }), sent);
    }));
  }

  function renderInvalid(numbers) {
    var key = numbers.join(",");
    if (key === lastInvalid) return;
    lastInvalid = key;
    document.getElementById("invalid").textContent = numbers.length ? numbers.map(function (n) { return "+" + n; }).join(", ") : "None.";
  }

  function refresh() {
    return fetch("/__fake/phone/state", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        renderQrs(state.qrs);
        renderCodes(state.codes);
        renderAccounts(state.accounts);
        renderInvalid(state.invalid_numbers);
      })
      .catch(function (error) { say("cannot reach the fake: " + error, true); });
  }

  document.getElementById("incoming").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var field = function (name) { return form.elements.namedItem(name); };
    var body = { to: digits(field("to").value), from: digits(field("from").value), name: field("name").value, text: field("text").value };
    fetch("/__fake/incoming", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(function (response) {
        return response.text().then(function (text) {
          say("incoming message: " + response.status + " " + text, !response.ok);
          if (response.ok) field("text").value = "";
          refresh();
        });
      })
      .catch(function (error) { say("incoming message: " + error, true); });
  });

  document.getElementById("invalid-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = event.target.elements.namedItem("number");
    call("/__fake/invalid-numbers", { numbers: [digits(input.value)] }, "invalid number").then(function () { input.value = ""; });
  });

  refresh();
  setInterval(refresh, 1000);
})();
