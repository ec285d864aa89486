/* Ribambelle web chat: plain JavaScript, no framework, no external resource.
 *
 * Protocol (server side lives elsewhere):
 *   - The conversation token is an HttpOnly cookie; the page always sends
 *     "conversation": null.
 *   - POST /api/chat/turn {"conversation": null, "text": ""}   -> {"messages": [...]}
 *   - WebSocket /api/chat/ws: send {"conversation": null, "text"|"button": ...},
 *     receive one Message per frame, or {"error", "message"}.
 *     Every open page of the conversation receives every message (its own turns'
 *     replies, the other tabs' and the pushed ones).
 *   - GET /api/chat/history[?after=<id>] -> {"from": "<id>", "messages": [...]}: the
 *     conversation's recent messages (on load), or those after an id (to catch up after a
 *     drop); "from" is where the history starts (the last login or logout).
 *   - A message with "history_start": true logged in or out: what the page showed before
 *     is dropped (a shared tablet shows nothing of the previous household).
 *
 * On a phone, a turn's first message is what the parent must see: the page scrolls to it
 * (to the bottom when the whole answer fits). There is one live calendar: a new calendar
 * message replaces the previous one, so the turn's outcome sits right above it.
 *
 * Server text is only ever rendered with textContent / text nodes (and links built with
 * createElement for http(s) addresses).
 */
(function () {
  "use strict";

  var TURN_URL = "/api/chat/turn";
  var HISTORY_URL = "/api/chat/history";
  var HISTORY_PAGE = 50; // the server's page of history (HISTORY_LENGTH)
  var WS_PATH = "/api/chat/ws";
  var MAX_BACKOFF_MS = 30000;
  var REPLY_TIMEOUT_MS = 15000;
  var SECRET_MASK = "••••••";

  var I18N = {
    fr: {
      placeholder: "Écrivez votre message…",
      send: "Envoyer",
      reconnecting: "Reconnexion…",
      inputLabel: "Votre message",
      log: "Conversation",
      you: "Vous : ",
      bot: "Ribambelle : ",
      network: "Connexion au serveur impossible. Vérifiez votre réseau puis réessayez.",
      generic: "Une erreur est survenue. Merci de réessayer.",
      notSent: "Message non envoyé. Réessayez dans un instant.",
      restart: "Nouvelle conversation.",
      prev: "Mois précédent",
      next: "Mois suivant",
      legend: "Légende"
    },
    en: {
      placeholder: "Type your message…",
      send: "Send",
      reconnecting: "Reconnecting…",
      inputLabel: "Your message",
      log: "Conversation",
      you: "You: ",
      bot: "Ribambelle: ",
      network: "Cannot reach the server. Check your connection and try again.",
      generic: "Something went wrong. Please try again.",
      notSent: "Message not sent. Please try again in a moment.",
      restart: "New conversation.",
      prev: "Previous month",
      next: "Next month",
      legend: "Legend"
    }
  };

  var STATE_SYMBOLS = {
    open: "",
    booked: "✓",
    in_basket: "•",
    full: "✕",
    waitlist: "◔",
    closed: "",
    past_deadline: "–",
    to_cancel: "✕",
    locked: ""
  };

  // States drawn with a padlock (a booked day that can no longer be cancelled).
  var LOCKED_STATES = { locked: true };

  // ---------------------------------------------------------------- state

  var els = {};
  var lang = "fr";

  var seen = Object.create(null); // message ids already rendered
  var lastId = null; // string id of the highest message id received
  var lastIdNum = -Infinity;

  var ws = null;
  var wsAttempts = 0;
  var reconnectTimer = null;
  var wsStarted = false;

  var postInFlight = false;
  var awaitingReply = false; // a user turn has been sent, no message back yet
  var clickPending = false; // a button of the active message was clicked
  var replyTimer = null;
  var typingTimer = null;

  var activeMsg = null; // the message whose buttons are enabled
  // The answer being shown: its first message is kept in view. A message with controls
  // (buttons, a calendar) ends an answer; the parent's next tap or text starts one.
  var answerFirst = null;
  var answerOpen = false;
  var passwordMode = false;
  var restarting = false;
  var lastWasKeyboard = false;

  function t(key) {
    return (I18N[lang] || I18N.fr)[key];
  }

  // ---------------------------------------------------------------- i18n

  function setLang(code) {
    if (typeof code !== "string") return;
    code = code.toLowerCase().slice(0, 2);
    if (!I18N[code]) return;
    lang = code;
    document.documentElement.lang = code;
    els.input.placeholder = t("placeholder");
    els.sendLabel.textContent = t("send");
    els.inputLabel.textContent = t("inputLabel");
    els.log.setAttribute("aria-label", t("log"));
    if (els.status.textContent) els.status.textContent = t("reconnecting");
  }

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function hidden(text) {
    return el("span", "visually-hidden", text);
  }

  function appendToLog(node, beforeNode) {
    els.log.insertBefore(node, beforeNode || els.typing);
  }

  function isNearBottom() {
    var log = els.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom() {
    els.log.scrollTop = els.log.scrollHeight;
  }

  function lastLogEntry() {
    var node = els.typing.previousElementSibling;
    return node || null;
  }

  // Show the answer from its first message: all of it when it fits, else its first
  // message at the top of the view (the outcome, above the calendar that follows).
  function revealAnswer() {
    var log = els.log;
    var first = answerFirst && answerFirst.isConnected ? answerFirst : lastLogEntry();
    var last = lastLogEntry();
    if (!first || !last) return;
    var top = first.offsetTop - 8; // .log is the offsetParent (position: relative)
    var bottom = last.offsetTop + last.offsetHeight + 8;
    if (bottom - top <= log.clientHeight) scrollToBottom();
    else log.scrollTop = Math.max(0, top);
  }

  // Drop everything shown: the conversation's history starts again (login, logout).
  function clearLog() {
    var nodes = els.log.children;
    for (var i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i] !== els.typing) els.log.removeChild(nodes[i]);
    }
    activeMsg = null;
    answerFirst = null;
    answerOpen = false;
  }

  function showSystem(text, isError) {
    if (!text) return;
    var p = el("p", "system" + (isError ? " is-error" : ""), text);
    appendToLog(p);
    scrollToBottom();
  }

  function setStatus(text) {
    if (els.status.textContent !== text) els.status.textContent = text;
  }

  // ---------------------------------------------------------------- typing / pending

  function startAwaiting(fromClick) {
    awaitingReply = true;
    clickPending = !!fromClick;
    applyControls();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () {
      if (awaitingReply) {
        els.typing.hidden = false;
        scrollToBottom();
      }
    }, 350);
    clearTimeout(replyTimer);
    replyTimer = setTimeout(function () {
      // No answer: unblock the buttons and try to catch up.
      stopAwaiting();
      catchUp();
    }, REPLY_TIMEOUT_MS);
  }

  function stopAwaiting() {
    awaitingReply = false;
    clickPending = false;
    clearTimeout(typingTimer);
    clearTimeout(replyTimer);
    els.typing.hidden = true;
    applyControls();
  }

  // Only the active (newest answered) message keeps working buttons.
  function applyControls() {
    var msgs = els.log.querySelectorAll(".msg-bot.has-controls");
    for (var i = 0; i < msgs.length; i++) {
      var m = msgs[i];
      var active = m === activeMsg;
      var pending = active && clickPending;
      m.classList.toggle("is-pending", pending);
      var buttons = m.querySelectorAll("button[data-payload]");
      for (var j = 0; j < buttons.length; j++) {
        var b = buttons[j];
        if (b.disabled === active) b.disabled = !active;
        if (pending) b.setAttribute("aria-disabled", "true");
        else b.removeAttribute("aria-disabled");
      }
    }
  }

  function updateSend() {
    els.send.disabled = postInFlight;
  }

  function setPasswordMode(on) {
    passwordMode = on;
    var input = els.input;
    if (on) {
      input.type = "password";
      input.setAttribute("autocomplete", "current-password");
      input.removeAttribute("autocapitalize");
      input.spellcheck = false;
    } else {
      input.type = "text";
      input.setAttribute("autocomplete", "off");
      input.setAttribute("autocapitalize", "sentences");
      input.spellcheck = true;
    }
  }

  // ---------------------------------------------------------------- rendering

  function controlButton(className, label, payload, userLabel, kind) {
    var b = el("button", className);
    b.type = "button";
    b.setAttribute("data-payload", payload);
    b.setAttribute("data-user-label", userLabel != null ? userLabel : label);
    if (kind) b.setAttribute("data-kind", kind);
    if (label != null) b.textContent = label;
    return b;
  }

  function safeUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var u = new URL(url, window.location.href);
      if (u.protocol === "https:" || u.protocol === "http:") return u.href;
    } catch (e) {
      /* ignore */
    }
    return null;
  }

  var URL_RE = /https?:\/\/[^\s<>"«»]+/g;

  // Text with its http(s) addresses as links (opened in their own tab: the chat stays).
  function appendLinkified(parent, text) {
    var at = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text))) {
      var url = match[0].replace(/[.,;:!?)]+$/, "");
      var href = safeUrl(url);
      if (!href) continue;
      if (match.index > at) parent.appendChild(document.createTextNode(text.slice(at, match.index)));
      var a = el("a", "inline-link", url);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener";
      parent.appendChild(a);
      at = match.index + url.length;
      URL_RE.lastIndex = at;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }

  function lockIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "12");
    svg.setAttribute("height", "12");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "cal-lock");
    var path = document.createElementNS(ns, "path");
    path.setAttribute(
      "d",
      "M4.5 7V5a3.5 3.5 0 0 1 7 0v2h.5A1.5 1.5 0 0 1 13.5 8.5v5A1.5 1.5 0 0 1 12 15H4a1.5 1.5 0 0 1-1.5-1.5v-5A1.5 1.5 0 0 1 4 7h.5Zm1.8 0h3.4V5a1.7 1.7 0 0 0-3.4 0v2Z"
    );
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  function formatDate(iso, fallback) {
    if (typeof iso === "string" && /^\d{4}-\d{2}-\d{2}$/.test(iso)) {
      try {
        var parts = iso.split("-");
        var d = new Date(+parts[0], +parts[1] - 1, +parts[2], 12);
        return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "fr-FR", {
          weekday: "long",
          day: "numeric",
          month: "long"
        }).format(d);
      } catch (e) {
        /* fall through */
      }
    }
    return fallback;
  }

  function stateClass(state) {
    return "state-" + String(state || "closed").replace(/[^a-z_]/gi, "");
  }

  var calCounter = 0;

  function renderCalendar(cal) {
    var wrap = el("div", "cal");
    var titleId = "cal-title-" + ++calCounter;
    wrap.setAttribute("role", "group");
    wrap.setAttribute("aria-labelledby", titleId);

    // Head: prev / title / next
    var head = el("div", "cal-head");
    if (cal.prev && cal.prev.payload != null) {
      var prev = controlButton("cal-nav", null, cal.prev.payload, cal.prev.label || t("prev"), "prev");
      prev.setAttribute("aria-label", cal.prev.label || t("prev"));
      prev.appendChild(el("span", null, "‹")).setAttribute("aria-hidden", "true");
      head.appendChild(prev);
    } else {
      head.appendChild(el("span", "cal-nav-spacer"));
    }
    var title = el("h2", "cal-title", cal.title || "");
    title.id = titleId;
    head.appendChild(title);
    if (cal.next && cal.next.payload != null) {
      var next = controlButton("cal-nav", null, cal.next.payload, cal.next.label || t("next"), "next");
      next.setAttribute("aria-label", cal.next.label || t("next"));
      next.appendChild(el("span", null, "›")).setAttribute("aria-hidden", "true");
      head.appendChild(next);
    } else {
      head.appendChild(el("span", "cal-nav-spacer"));
    }
    wrap.appendChild(head);

    // Grid
    var table = el("table", "cal-grid");
    table.setAttribute("role", "grid");
    table.setAttribute("aria-labelledby", titleId);
    var thead = el("thead");
    var hr = el("tr");
    var weekdays = Array.isArray(cal.weekdays) ? cal.weekdays : [];
    for (var w = 0; w < 7; w++) {
      var th = el("th", null, weekdays[w] != null ? weekdays[w] : "");
      th.setAttribute("scope", "col");
      th.setAttribute("role", "columnheader");
      hr.appendChild(th);
    }
    thead.appendChild(hr);
    table.appendChild(thead);

    var tbody = el("tbody");
    var weeks = Array.isArray(cal.weeks) ? cal.weeks : [];
    for (var r = 0; r < weeks.length; r++) {
      var tr = el("tr");
      var week = Array.isArray(weeks[r]) ? weeks[r] : [];
      for (var c = 0; c < 7; c++) {
        var td = el("td");
        td.setAttribute("role", "gridcell");
        var day = week[c];
        if (day && typeof day === "object") {
          td.appendChild(renderDay(day));
        }
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    table.addEventListener("keydown", onGridKeydown);
    table.addEventListener("focusin", function (ev) {
      if (ev.target && ev.target.classList && ev.target.classList.contains("cal-day")) setRoving(ev.target);
    });
    var dayButtons = table.querySelectorAll("button.cal-day");
    for (var d = 0; d < dayButtons.length; d++) dayButtons[d].tabIndex = d === 0 ? 0 : -1;
    wrap.appendChild(table);

    // Legend
    if (Array.isArray(cal.legend) && cal.legend.length) {
      var ul = el("ul", "cal-legend");
      ul.setAttribute("aria-label", t("legend"));
      for (var i = 0; i < cal.legend.length; i++) {
        var item = cal.legend[i];
        if (!item) continue;
        var li = el("li");
        var sw = el("span", "cal-swatch " + stateClass(item.state), STATE_SYMBOLS[item.state] || "");
        sw.setAttribute("aria-hidden", "true");
        if (LOCKED_STATES[item.state]) sw.appendChild(lockIcon());
        li.appendChild(sw);
        li.appendChild(el("span", null, item.label || item.state || ""));
        ul.appendChild(li);
      }
      wrap.appendChild(ul);
    }
    return wrap;
  }

  function renderDay(day) {
    var label = day.label || String(day.day);
    var node;
    if (day.payload != null && day.payload !== "") {
      node = controlButton("cal-day " + stateClass(day.state), null, day.payload, formatDate(day.date, label), "day");
      node.setAttribute("aria-label", label);
    } else {
      node = el("span", "cal-day " + stateClass(day.state));
    }
    var visible = el("span", "cal-num", day.day != null ? day.day : "");
    visible.setAttribute("aria-hidden", "true");
    node.appendChild(visible);
    var sym = STATE_SYMBOLS[day.state];
    if (sym) {
      var s = el("span", "cal-sym", sym);
      s.setAttribute("aria-hidden", "true");
      node.appendChild(s);
    } else if (LOCKED_STATES[day.state]) {
      node.appendChild(lockIcon());
    }
    if (node.tagName !== "BUTTON") node.appendChild(hidden(label));
    if (day.date) node.setAttribute("data-date", day.date);
    return node;
  }

  // Roving tabindex: a calendar grid is a single Tab stop.
  function setRoving(button) {
    var table = button.closest("table");
    if (!table) return;
    var days = table.querySelectorAll("button.cal-day");
    for (var i = 0; i < days.length; i++) days[i].tabIndex = days[i] === button ? 0 : -1;
  }

  // Arrow-key navigation between the day buttons of a calendar grid.
  function onGridKeydown(ev) {
    var key = ev.key;
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].indexOf(key) < 0) return;
    var target = ev.target;
    if (!target || !target.classList || !target.classList.contains("cal-day")) return;
    var table = ev.currentTarget;
    var rows = table.tBodies[0] ? table.tBodies[0].rows : [];
    var td = target.parentNode;
    var tr = td.parentNode;
    var r = Array.prototype.indexOf.call(rows, tr);
    var c = td.cellIndex;
    var found = null;

    function btnAt(rr, cc) {
      var row = rows[rr];
      if (!row) return null;
      var cell = row.cells[cc];
      var b = cell && cell.querySelector("button.cal-day");
      return b && !b.disabled ? b : null;
    }

    if (key === "ArrowLeft" || key === "ArrowRight") {
      var step = key === "ArrowRight" ? 1 : -1;
      var idx = r * 7 + c + step;
      while (idx >= 0 && idx < rows.length * 7 && !found) {
        found = btnAt(Math.floor(idx / 7), idx % 7);
        idx += step;
      }
    } else if (key === "ArrowUp" || key === "ArrowDown") {
      var dr = key === "ArrowDown" ? 1 : -1;
      for (var rr = r + dr; rr >= 0 && rr < rows.length && !found; rr += dr) found = btnAt(rr, c);
    } else if (key === "Home" || key === "End") {
      var range = key === "Home" ? [0, 1, 2, 3, 4, 5, 6] : [6, 5, 4, 3, 2, 1, 0];
      for (var k = 0; k < 7 && !found; k++) found = btnAt(r, range[k]);
    }
    ev.preventDefault();
    if (found) {
      setRoving(found);
      found.focus();
      lastWasKeyboard = true;
    }
  }

  function renderButtons(rows) {
    var box = el("div", "choices");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (!Array.isArray(row)) row = [row];
      var line = el("div", "choice-row");
      for (var j = 0; j < row.length; j++) {
        var btn = row[j];
        if (!btn || btn.payload == null) continue;
        line.appendChild(controlButton("choice", btn.label != null ? btn.label : String(btn.payload), btn.payload));
      }
      if (line.childNodes.length) box.appendChild(line);
    }
    return box.childNodes.length ? box : null;
  }

  function msgIdNum(id) {
    var n = parseInt(id, 10);
    return isNaN(n) ? null : n;
  }

  function renderMessage(m) {
    if (!m || typeof m !== "object") return null;
    if (m.error && m.text == null) {
      showSystem(m.message || m.error, true);
      return null;
    }
    var id = m.id != null ? String(m.id) : null;
    if (id !== null) {
      if (seen[id]) return null;
      seen[id] = true;
    }
    var num = id !== null ? msgIdNum(id) : null;
    var isNewest = num === null || num >= lastIdNum;
    if (num !== null && num > lastIdNum) {
      lastIdNum = num;
      lastId = id;
    }
    var hasCalendar = !!(m.calendar && typeof m.calendar === "object");
    if (hasCalendar && !isNewest && newerCalendar(num)) return null; // already replaced

    if (isNewest && m.history_start === true) clearLog();
    if (isNewest && m.lang) setLang(m.lang);
    if (hasCalendar) dropCalendars(num);

    var node = el("div", "msg msg-bot");
    if (id !== null) node.setAttribute("data-id", id);
    if (m.lang && I18N[String(m.lang).slice(0, 2)]) node.setAttribute("lang", String(m.lang).slice(0, 2));

    if (m.text != null && String(m.text) !== "") {
      var bubble = el("p", "bubble");
      bubble.appendChild(hidden(t("bot")));
      appendLinkified(bubble, String(m.text));
      node.appendChild(bubble);
    }

    var hasControls = false;
    if (hasCalendar) {
      node.appendChild(renderCalendar(m.calendar));
      node.classList.add("has-calendar");
      hasControls = true;
    }
    var href = m.link ? safeUrl(m.link.url) : null;
    if (href) {
      var a = el("a", "link-btn", m.link.label || href);
      a.href = href;
      // Its own tab: the chat stays open to receive the pushed result (e.g. the receipt).
      a.target = "_blank";
      a.rel = "noopener";
      node.appendChild(a);
    }
    if (Array.isArray(m.buttons) && m.buttons.length) {
      var box = renderButtons(m.buttons);
      if (box) {
        node.appendChild(box);
        hasControls = true;
      }
    }
    if (hasControls) node.classList.add("has-controls");

    // Insert in id order (catch-up may race with live frames).
    var before = null;
    if (num !== null && !isNewest) {
      var bots = els.log.querySelectorAll(".msg-bot[data-id]");
      for (var i = 0; i < bots.length; i++) {
        var other = msgIdNum(bots[i].getAttribute("data-id"));
        if (other !== null && other > num) {
          before = bots[i];
          break;
        }
      }
    }
    appendToLog(node, before);

    if (isNewest) {
      if (hasControls) activeMsg = node;
      else if (awaitingReply) activeMsg = null;
      if (m.input === "password" || hasControls) setPasswordMode(m.input === "password");
      if (!answerOpen || !answerFirst || !answerFirst.isConnected) answerFirst = node;
      answerOpen = !hasControls;
    }
    return node;
  }

  // A calendar message newer than message `num` is on the page.
  function newerCalendar(num) {
    var cals = els.log.querySelectorAll(".msg-bot.has-calendar[data-id]");
    for (var i = 0; i < cals.length; i++) {
      var other = msgIdNum(cals[i].getAttribute("data-id"));
      if (other !== null && num !== null && other > num) return true;
    }
    return false;
  }

  // One live calendar: the previous calendar message goes when a new one comes.
  function dropCalendars(num) {
    var cals = els.log.querySelectorAll(".msg-bot.has-calendar");
    for (var i = 0; i < cals.length; i++) {
      var other = msgIdNum(cals[i].getAttribute("data-id"));
      if (num !== null && other !== null && other > num) continue;
      if (cals[i] === activeMsg) activeMsg = null;
      if (cals[i] === answerFirst) answerFirst = null;
      cals[i].parentNode.removeChild(cals[i]);
    }
  }

  // Render a batch of messages (or a single pushed one) and update the UI.
  function handleMessages(list) {
    if (!Array.isArray(list)) list = [list];
    var focusLost = focusWasInLog();
    var last = null;
    for (var i = 0; i < list.length; i++) {
      var node = renderMessage(list[i]);
      if (node) last = node;
    }
    if (!last) return;
    stopAwaiting(); // also applies the controls state
    revealAnswer();
    if (focusLost) restoreFocus();
  }

  // The parent acts: what comes next is a new answer.
  function startAnswer() {
    answerOpen = false;
  }

  // ---------------------------------------------------------------- focus

  var lastKind = null;
  var lastDate = null;
  var userInteracted = false;

  function focusWasInLog() {
    var ae = document.activeElement;
    if (!ae || ae === document.body) return userInteracted;
    return els.log.contains(ae) && ae !== els.log;
  }

  // The day button for the date just clicked, or the grid's current stop.
  function sameDay(msg) {
    var days = msg.querySelectorAll("button.cal-day:not(:disabled)");
    var fallback = null;
    for (var i = 0; i < days.length; i++) {
      if (lastDate && days[i].getAttribute("data-date") === lastDate) {
        setRoving(days[i]);
        return days[i];
      }
      if (!fallback && days[i].tabIndex === 0) fallback = days[i];
    }
    return fallback || days[0] || null;
  }

  function restoreFocus() {
    var ae = document.activeElement;
    if (ae && ae !== document.body && !ae.disabled && ae.isConnected) return;
    if (activeMsg) {
      var target =
        (lastKind === "prev" || lastKind === "next"
          ? activeMsg.querySelector('button[data-kind="' + lastKind + '"]:not(:disabled)')
          : null) ||
        (lastKind === "day" ? sameDay(activeMsg) : null) ||
        activeMsg.querySelector("button[data-payload]:not(:disabled)");
      if (target) {
        target.focus({ preventScroll: true });
        return;
      }
    }
    if (lastWasKeyboard) els.input.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------- user bubbles

  function showUser(text, secret) {
    var node = el("div", "msg msg-user");
    var bubble = el("p", "bubble" + (secret ? " is-secret" : ""));
    bubble.appendChild(hidden(t("you")));
    bubble.appendChild(document.createTextNode(secret ? SECRET_MASK : text));
    node.appendChild(bubble);
    appendToLog(node);
    startAnswer();
    scrollToBottom();
  }

  // ---------------------------------------------------------------- network

  function readJson(res) {
    return res.text().then(function (body) {
      if (!body) return null;
      try {
        return JSON.parse(body);
      } catch (e) {
        return null;
      }
    });
  }

  function errorText(data) {
    if (data && typeof data.message === "string" && data.message) return data.message;
    return t("generic");
  }

  // POST /api/chat/turn. Resolves to true on success.
  function postTurn(body, opts) {
    opts = opts || {};
    postInFlight = true;
    updateSend();
    return fetch(TURN_URL, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (res) {
        return readJson(res).then(function (data) {
          postInFlight = false;
          updateSend();
          if (res.ok) {
            if (data && Array.isArray(data.messages)) handleMessages(data.messages);
            stopAwaiting(); // even if every message was already shown
            return true;
          }
          stopAwaiting();
          showSystem(errorText(data), true);
          if (res.status === 404 && !opts.isRestart) restart();
          else if (opts.onFail) opts.onFail();
          return false;
        });
      })
      .catch(function () {
        postInFlight = false;
        updateSend();
        stopAwaiting();
        if (!opts.quiet) showSystem(opts.isInitial ? t("network") : t("notSent"), true);
        if (opts.onFail) opts.onFail();
        return false;
      });
  }

  // Conversation unknown to the server: forget ids and start fresh.
  function restart() {
    if (restarting) return;
    restarting = true;
    seen = Object.create(null);
    lastId = null;
    lastIdNum = -Infinity;
    activeMsg = null;
    setPasswordMode(false);
    applyControls();
    // old bot messages keep their ids as text only; they will not be matched again
    var old = els.log.querySelectorAll(".msg-bot[data-id]");
    for (var i = 0; i < old.length; i++) old[i].removeAttribute("data-id");
    showSystem(t("restart"), false);
    postTurn({ conversation: null, text: "" }, { isRestart: true }).then(function (ok) {
      restarting = false;
      if (ok) {
        // the socket was bound to the old conversation: reopen it
        if (ws) {
          var sock = ws;
          ws = null;
          try {
            sock.close();
          } catch (e) {
            /* ignore */
          }
        }
        wsAttempts = 0;
        connect();
      }
    });
  }

  // GET the history (after an id, or the last messages). Resolves to the parsed body,
  // {"status": 404} for an unknown conversation, or null when the server is unreachable.
  function fetchHistory(after) {
    var url = HISTORY_URL + (after !== null ? "?after=" + encodeURIComponent(after) : "");
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    })
      .then(function (res) {
        return readJson(res).then(function (data) {
          if (res.ok && data && Array.isArray(data.messages)) return data;
          return { status: res.status, messages: [] };
        });
      })
      .catch(function () {
        return null;
      });
  }

  // The history starts at `from` (a login or logout since): drop what came before it.
  function applyHistoryStart(from) {
    var start = msgIdNum(from);
    if (start === null) return;
    var bots = els.log.querySelectorAll(".msg-bot[data-id]");
    for (var i = 0; i < bots.length; i++) {
      var shown = msgIdNum(bots[i].getAttribute("data-id"));
      if (shown !== null && shown < start) {
        clearLog();
        return;
      }
    }
  }

  function showHistory(data) {
    applyHistoryStart(data.from);
    if (data.messages.length) handleMessages(data.messages);
  }

  // What was missed while the socket was down, a page (HISTORY_PAGE messages) at a time.
  function catchUp(round) {
    round = round || 0;
    return fetchHistory(lastId).then(function (data) {
      if (!data) return; // the socket close handler will retry
      if (data.status === 404) restart();
      else if (!data.status) {
        showHistory(data);
        if (data.messages.length >= HISTORY_PAGE && round < 20) return catchUp(round + 1);
      }
    });
  }

  function wsUrl() {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + window.location.host + WS_PATH;
  }

  function wsOpen() {
    return ws && ws.readyState === 1;
  }

  function connect() {
    wsStarted = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    var sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (e) {
      setStatus(t("reconnecting"));
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = function () {
      if (ws !== sock) return;
      wsAttempts = 0;
      setStatus("");
      catchUp();
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var data;
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (!data || typeof data !== "object") return;
      if (data.error !== undefined && data.id === undefined) {
        stopAwaiting();
        showSystem(errorText(data), true);
        if (data.error === "not_found" || data.error === "unknown_conversation") restart();
        return;
      }
      if (Array.isArray(data.messages)) handleMessages(data.messages);
      else handleMessages([data]);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      if (awaitingReply) stopAwaiting();
      setStatus(t("reconnecting"));
      scheduleReconnect();
    };
    sock.onerror = function () {
      /* close follows */
    };
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, wsAttempts));
    wsAttempts++;
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function reconnectNow() {
    if (!wsStarted || wsOpen() || (ws && ws.readyState === 0)) return;
    connect();
  }

  // Send one turn: WebSocket if open, POST otherwise.
  function sendTurn(body, fromClick, onFail) {
    body.conversation = null;
    if (wsOpen()) {
      try {
        ws.send(JSON.stringify(body));
        startAwaiting(fromClick);
        return true;
      } catch (e) {
        /* fall back to POST */
      }
    }
    if (postInFlight) return false;
    startAwaiting(fromClick);
    postTurn(body, { onFail: onFail });
    return true;
  }

  // ---------------------------------------------------------------- events

  function onSubmit(ev) {
    ev.preventDefault();
    if (postInFlight && !wsOpen()) return;
    var value = els.input.value;
    if (!value.trim()) {
      els.input.focus();
      return;
    }
    var secret = passwordMode;
    lastKind = null;
    var restore = secret
      ? null
      : function () {
          // POST failed: give the text back so it can be sent again
          if (!els.input.value) els.input.value = value;
        };
    if (!sendTurn({ text: secret ? value : value.trim() }, false, restore)) return;
    showUser(value.trim(), secret);
    els.input.value = "";
    if (secret) setPasswordMode(false);
    els.input.focus();
  }

  function onLogClick(ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-payload]") : null;
    if (!b || !els.log.contains(b) || b.disabled) return;
    var msg = b.closest(".msg-bot");
    if (msg !== activeMsg || clickPending) return;
    if (postInFlight && !wsOpen()) return;
    lastWasKeyboard = ev.detail === 0;
    userInteracted = true;
    lastKind = b.getAttribute("data-kind");
    lastDate = b.getAttribute("data-date");
    var payload = b.getAttribute("data-payload");
    var label = b.getAttribute("data-user-label") || b.textContent;
    if (!sendTurn({ button: payload }, true)) return;
    var chosen = msg.querySelectorAll(".is-chosen");
    for (var i = 0; i < chosen.length; i++) chosen[i].classList.remove("is-chosen");
    b.classList.add("is-chosen");
    showUser(label, false);
    if (passwordMode) setPasswordMode(false);
  }

  // Keep the layout above the on-screen keyboard (iOS does not resize).
  function fitViewport() {
    var vv = window.visualViewport;
    if (!vv) return;
    var root = document.documentElement;
    var wasBottom = isNearBottom();
    root.style.setProperty("--app-h", Math.round(vv.height) + "px");
    root.style.setProperty("--app-top", Math.round(vv.offsetTop) + "px");
    if (wasBottom) scrollToBottom();
  }

  function init() {
    els.log = document.getElementById("log");
    els.typing = document.getElementById("typing");
    els.form = document.getElementById("composer");
    els.input = document.getElementById("input");
    els.send = document.getElementById("send");
    els.sendLabel = document.getElementById("send-label");
    els.inputLabel = document.getElementById("input-label");
    els.status = document.getElementById("status");

    els.form.addEventListener("submit", onSubmit);
    els.log.addEventListener("click", onLogClick);
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Tab" || ev.key === "Enter" || ev.key === " ") lastWasKeyboard = true;
    });
    document.addEventListener("pointerdown", function () {
      lastWasKeyboard = false;
    });

    if (window.visualViewport) {
      document.documentElement.classList.add("has-vv");
      window.visualViewport.addEventListener("resize", fitViewport);
      window.visualViewport.addEventListener("scroll", fitViewport);
      fitViewport();
    }
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reconnectNow();
    });
    window.addEventListener("pageshow", function (ev) {
      if (ev.persisted) reconnectNow();
    });

    start(0);
  }

  // First contact: the conversation's recent messages when it has some (its buttons still
  // work: no turn is run, so other open pages keep theirs), else "show me where I am";
  // retried with back-off until it works.
  function start(attempt) {
    fetchHistory(null)
      .then(function (data) {
        if (data && !data.status && data.messages.length) {
          showHistory(data);
          return true;
        }
        return postTurn({ conversation: null, text: "" }, { isInitial: true, quiet: attempt > 0 });
      })
      .then(function (ok) {
        if (ok || restarting || wsStarted) {
          if (!wsStarted) connect();
          return;
        }
        var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt));
        setStatus(t("reconnecting"));
        setTimeout(function () {
          start(attempt + 1);
        }, delay);
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
