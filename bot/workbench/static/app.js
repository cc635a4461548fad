// The workbench page: polls /api/state and renders the channel as Slack would show it.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null, version = -1, user = "U0ALICE", view = "channel";
const openThreads = new Set(), closedThreads = new Set();  // closed by hand: never opened again by itself
const drawnReplies = new Map();  // thread ts -> replies drawn, to bring new ones into view
// Private messages: those from before the last command sent (or before the page opened), and all but the
// newest three, are folded under one line; Dismiss and Clear hide them for good.
let foldBefore = null, showFolded = false, lastPrivate = -1;
const dismissed = new Set();

const EMOJI = {
  red_circle: "🔴", double_vertical_bar: "⏸️", arrow_forward: "▶️", black_square_for_stop: "⏹️",
  white_check_mark: "✅", x: "❌", hourglass_flowing_sand: "⏳", hourglass: "⌛", arrow_up: "⬆️",
  arrow_down: "⬇️", warning: "⚠️", bell: "🔔", no_entry: "⛔", link: "🔗", sparkles: "✨", alarm_clock: "⏰",
  memo: "📝", clipboard: "📋", bookmark: "🔖", checkered_flag: "🏁", lock: "🔒", mag: "🔍",
};

function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function personName(id) {
  const p = (state && state.people.find((x) => x.id === id));
  return p ? p.name : id;
}

function formatDate(ts, fmt) {
  const d = new Date(ts * 1000);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const secs = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const ago = (() => {
    const s = Math.round((Date.now() / 1000) - ts);
    if (s < 0) return "in " + Math.round(-s / 60) + " min";
    if (s < 60) return s + " s ago";
    return Math.round(s / 60) + " min ago";
  })();
  return fmt.replace("{date_short_pretty}", d.toLocaleDateString([], { month: "short", day: "numeric" }))
    .replace("{date_short}", d.toLocaleDateString([], { month: "short", day: "numeric" }))
    .replace("{date}", d.toLocaleDateString()).replace("{time_secs}", secs).replace("{time}", time)
    .replace("{ago}", ago);
}

// Slack mrkdwn, the parts recbot uses. Input is Slack-escaped (&amp; &lt; &gt;) already.
function mrkdwn(text) {
  let out = String(text).replace(/"/g, "&quot;");
  out = out.replace(/<!date\^(\d+)\^([^|>]+)\|[^>]*>/g, (_, ts, fmt) => esc(formatDate(Number(ts), fmt)));
  out = out.replace(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id) => `<span class="mention">@${esc(personName(id))}</span>`);
  out = out.replace(/<#([CDG][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id) => `<span class="mention">#${({ C0DEMO: "demo", C0BETA: "beta" })[id] || id}</span>`);
  out = out.replace(/<(https?:\/\/[^|>]+)\|([^>]+)>/g, (_, url, label) => `<a href="${url}" target="_blank" rel="noopener">${label}</a>`);
  out = out.replace(/<(https?:\/\/[^>]+)>/g, (_, url) => `<a href="${url}" target="_blank" rel="noopener">${url}</a>`);
  out = out.replace(/`([^`]+)`/g, "<code>$1</code>");
  out = out.replace(/(^|[\s(])\*([^*\n]+)\*/g, "$1<b>$2</b>");
  out = out.replace(/(^|[\s(])_([^_\n]+)_/g, "$1<i>$2</i>");
  out = out.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  return out.replace(/\n/g, "<br>");
}

function textObject(t) {
  if (!t) return "";
  return t.type === "plain_text" ? esc(t.text).replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m) : mrkdwn(t.text);
}

function renderBlocks(blocks, messageTs, home) {
  return blocks.map((b) => {
    if (b.type === "header") return `<div class="block-header">${textObject(b.text)}</div>`;
    if (b.type === "divider") return "<hr>";
    if (b.type === "context") return `<div class="context">${b.elements.map(textObject).join(" ")}</div>`;
    if (b.type === "section") {
      const fields = b.fields ? `<div class="fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>` : "";
      return `<div>${textObject(b.text)}</div>${fields}`;
    }
    if (b.type === "call") return renderCall(state.calls[b.call_id]);
    if (b.type === "actions") {
      return `<div class="actions">${b.elements.map((e) => `<button class="${e.style || ""}" data-action="${esc(e.action_id)}"
        data-value="${esc(e.value)}" data-ts="${esc(messageTs || "")}" data-home="${home ? 1 : ""}">${textObject(e.text)}</button>`).join("")}</div>`;
    }
    return "";
  }).join("");
}

function renderCall(call) {
  if (!call) return `<div class="call muted">a call</div>`;
  const people = call.users.map((u) => `<span class="person">👤 ${esc(u.display_name || u.slack_id || u.external_id)}</span>`).join("");
  const end = call.ended ? `<span class="muted small">Ended · lasted ${Math.floor((call.duration || 0) / 60)}m ${(call.duration || 0) % 60}s</span>`
    : `<a class="join" href="${esc(call.join_url)}" target="_blank" rel="noopener">Join</a>`;
  return `<div class="call"><div class="call-title">📞 ${esc(call.title)}</div>
    <div class="people">${people || `<span class="muted small">nobody in it</span>`}</div>${end}</div>`;
}

function renderSteps(steps) {
  return steps.map((s) => `<div class="step ${esc(s.state)}"><b>${esc(s.step.replace("_", " "))}</b>
    <span class="muted small">by ${s.by ? esc(personName(s.by)) : "a scheduled trigger"}</span>
    <div class="small">${s.state === "completed" ? `completed: ${esc(s.outputs.status)}`
      : s.state === "failed" ? `failed: ${mrkdwn(s.error || "")}` : "running…"}</div></div>`).join("");
}

function audioFor(html) {  // preload="metadata": the player shows the file's length before it is played
  const m = html.match(/href="(http[^"]+\.wav[^"]*)"/);
  return m ? `<audio controls preload="metadata" src="${m[1]}"></audio>` : "";
}

function renderFiles(files) {
  return (files || []).map((f) => `<div class="file">📄 <a href="/api/files/${esc(f.id)}" target="_blank" rel="noopener">${esc(f.title || f.name)}</a>
    <span class="muted small">${esc(f.name)} · ${f.size} bytes</span></div>`).join("");
}

function renderMessage(m, opts = {}) {
  const body = (m.blocks ? renderBlocks(m.blocks, m.ts) : mrkdwn(m.text)) + renderFiles(m.files);
  const edited = m.edits ? ` <span class="edited">(edited)</span>` : "";
  const time = m.ts ? formatDate(Number(m.ts.split(".")[0]), "{time}") : "";
  return `<div class="msg ${opts.cls || ""}" data-ts="${esc(m.ts || "")}">
    <div><span class="who">recbot<span class="app">APP</span></span> <span class="muted small">${time}</span>${edited}</div>
    <div class="body">${body}${audioFor(body)}</div>${opts.extra || ""}</div>`;
}

function render() {
  const me = state.people.find((p) => p.id === user);
  $("role").textContent = me ? me.role : "";
  $("tab-channel").textContent = "# " + state.channel_name;
  $("text").setAttribute("aria-label", "Message #" + state.channel_name);
  $("workspaces").innerHTML = state.workspaces.map((w) => `<div class="row"><span>${esc(w.name)}</span>${w.installed
    ? `<span class="muted small">installed</span>`
    : `<a class="add" href="${esc(state.install_url)}" target="_blank" rel="noopener">Add to Slack</a>`}</div>`).join("");
  const here = state.workspaces.find((w) => w.id === ((me && me.team) || "T0DEMO"));
  $("not-installed").hidden = !here || here.installed;
  // A card whose recording finished opens its thread (the file, the marks, the transcript and summary come there)
  state.finished.forEach((ts) => { if (!closedThreads.has(ts)) openThreads.add(ts); });
  const grown = [];  // open threads with replies not drawn before: the newest is brought into view
  const msgs = state.messages.map((m) => {
    const n = m.replies.length;
    const open = openThreads.has(m.ts);
    if (open && n > (drawnReplies.get(m.ts) ?? n)) grown.push(m.replies[n - 1].ts);
    drawnReplies.set(m.ts, open ? n : (drawnReplies.get(m.ts) ?? 0));
    const toggle = n ? `<button class="thread-toggle" data-thread="${esc(m.ts)}">${open ? "Hide" : n} ${n === 1 ? "reply" : "replies"}</button>` : "";
    const thread = open ? `<div class="thread">${m.replies.map((r) => renderMessage(r)).join("")}</div>` : "";
    return { ts: m.ts, html: renderMessage(m, { extra: toggle + thread }) };
  });
  const broadcasts = state.broadcasts.map((m) => ({ ts: m.ts, html: renderMessage(m, { extra: `<div class="only muted small">replied to a thread, also sent to the channel</div>` }) }));
  const dms = state.dms.map((m) => ({ ts: m.ts, html: renderMessage(m, { cls: "ephemeral", extra: `<div class="only">Direct message to you</div>` }) }));
  const players = playersIn($("messages"));
  const timeline = [...msgs, ...broadcasts, ...dms].sort((a, b) => Number(a.ts) - Number(b.ts));  // Slack's order
  patch($("messages"), timeline.map((x) => x.html).join("") ||
    `<p class="muted">No messages yet. Type <code>/rec start</code> below.</p>`);
  keepPlayers($("messages"), players);
  grown.forEach((ts) => { const el = $("messages").querySelector(`.thread .msg[data-ts="${ts}"]`); if (el) el.scrollIntoView({ block: "nearest" }); });
  renderPrivate();
  renderMeeting();
  $("mode").textContent = state.mode === "socket" ? "Socket Mode: over the bot's WebSocket"
    : "HTTP: signed requests to /slack/events";
  const f = state.faults;
  $("metrics").href = state.metrics_url;
  $("fault-counts").textContent = `injected: platform 500×${f.platform["500"]}, webhooks dropped×${f.webhooks.dropped}, ` +
    `duplicated×${f.webhooks.duplicated}, Slack 429×${f.slack["429"]}`;
  patch($("steps"), renderSteps(state.steps || []));
  patch($("home"), state.home ? renderBlocks(state.home.blocks, "", true)
    : `<p class="muted">Open the Home tab to let recbot publish it.</p>`);
  return grown.length > 0;
}

function renderPrivate() {
  const mine = state.ephemeral.filter((e) => !dismissed.has(e.n));
  if (foldBefore === null) foldBefore = Math.max(-1, ...mine.map((e) => e.n)) + 1;  // what came before the page
  const fresh = mine.filter((e) => e.n >= foldBefore).slice(-3);
  const folded = mine.filter((e) => !fresh.includes(e));
  const shown = showFolded ? mine : fresh;
  const fold = folded.length ? `<div class="folded muted small"><button class="link" data-fold="1">${showFolded ? "Fold" : "Show"}
    ${folded.length} earlier ${folded.length === 1 ? "message" : "messages"} only visible to you</button> ·
    <button class="link" data-clear="1">Clear</button></div>` : "";
  patch($("ephemeral"), fold + shown.map((e) => `<div class="msg ephemeral" data-n="${e.n}"><div class="only">👁 Only visible to you
    <button class="link dismiss" data-dismiss="${e.n}">Dismiss</button></div>${e.blocks ? renderBlocks(e.blocks) : mrkdwn(e.text)}</div>`).join(""));
  const newest = shown.length ? shown[shown.length - 1].n : -1;
  if (newest > lastPrivate) {  // a new one: its top in view, never cut off above
    const el = $("ephemeral").querySelector(`[data-n="${newest}"]`);
    $("ephemeral").scrollTop = el.offsetTop - $("ephemeral").offsetTop - 4;
  }
  lastPrivate = Math.max(lastPrivate, newest);
}

// Called on every poll (the session's countdown moves): redraws only what changed, so a click is never lost
// to a redraw.
let drawnMeeting = "", drawnRecordings = "";
function renderMeeting() {
  const meeting = state.meeting;
  const people = `<div><b>${esc(meeting.title)}</b></div><div id="session" class="small"></div>
    <div class="muted small">${esc(meeting.id)}</div>` + meeting.participants.map((p) =>
    `<div class="row"><span>👤 ${esc(p.name)}</span><button data-leave="${esc(p.id)}">Leave</button></div>
    <form class="say" data-say="${esc(p.id)}"><input placeholder="say…" aria-label="${esc(p.name)} says"><button>Say</button></form>`).join("");
  // Redrawn only when the people change, so what is being typed in a "say" box stays
  if (people !== drawnMeeting) { $("meeting").innerHTML = drawnMeeting = people; }
  $("session").textContent = meeting.status;
  $("session").className = "small " + (meeting.live && meeting.participants.length ? "muted" : "waiting");
  const recordings = JSON.stringify(meeting.recordings.map((r) => [r.id, r.status, !!r.url]));  // links are signed anew
  if (recordings === drawnRecordings) return;
  drawnRecordings = recordings;
  const players = playersIn($("recordings"));
  $("recordings").innerHTML = meeting.recordings.map((r) => `<div class="row"><span class="status">${esc(r.status)}</span>
    <span class="muted small">${esc(r.id.slice(0, 8))}</span></div>${r.url ? `<audio controls preload="metadata" data-key="${esc(r.id)}" src="${r.url}"></audio>` : ""}`).join("")
    || `<p class="muted small">none yet</p>`;
  keepPlayers($("recordings"), players);
}

// A redraw keeps the audio players it finds again (the same link, or the same recording in the meeting panel,
// whose link is signed anew each time), so one that plays, or knows its length, goes on.
const playerKey = (a) => a.dataset.key || a.getAttribute("src");
function playersIn(el) { return Object.fromEntries([...el.querySelectorAll("audio")].map((a) => [playerKey(a), a])); }
function keepPlayers(el, players) {
  el.querySelectorAll("audio").forEach((a) => { const old = players[playerKey(a)]; if (old && old !== a) a.replaceWith(old); });
}

// A redraw changes only the nodes whose HTML changed: a message, an ephemeral, a button stays the same node
// while it is the same, so a click whose press and release straddle a poll's redraw still lands, and a
// selection or a scroll inside a message stays. Children are matched by their message's ts or ephemeral's n,
// an audio player by its link.
const keyOf = (n) => n.nodeType !== 1 ? null : n.nodeName === "AUDIO" ? playerKey(n)
  : n.classList.contains("msg") ? (n.dataset.ts || n.dataset.n || null) : null;
const alike = (a, b) => a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
function patch(el, html) {
  const next = document.createElement(el.tagName);
  next.innerHTML = html;
  morphChildren(el, next);
}
function morph(from, to) {
  if (from.nodeType !== 1) { if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue; return; }
  if (from.nodeName === "AUDIO" || from.outerHTML === to.outerHTML) return;  // the same link: the player goes on
  for (const a of [...from.attributes]) if (!to.hasAttribute(a.name)) from.removeAttribute(a.name);
  for (const a of [...to.attributes]) if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
  morphChildren(from, to);
}
function morphChildren(from, to) {
  const keyed = new Map([...from.childNodes].filter((c) => keyOf(c) !== null).map((c) => [keyOf(c), c]));
  let here = from.firstChild;
  for (const want of [...to.childNodes]) {
    let have = keyOf(want) !== null ? keyed.get(keyOf(want)) : here;
    if (have && !alike(have, want)) have = null;
    if (!have) { from.insertBefore(want, here); continue; }
    if (have !== here) from.insertBefore(have, here);
    morph(have, want);
    here = have.nextSibling;
  }
  while (here) { const gone = here; here = here.nextSibling; gone.remove(); }
}

async function refresh(force) {
  try {
    const r = await fetch(`/api/state?user=${encodeURIComponent(user)}`);
    const next = await r.json();
    if (force || next.version !== version || !state) {
      const nearBottom = $("messages").scrollHeight - $("messages").scrollTop - $("messages").clientHeight < 80;
      state = next; version = next.version;
      const followed = render();  // a thread's new reply was brought into view
      if (nearBottom && !followed) $("messages").scrollTop = 1e9;
    } else {
      state = next; renderMeeting();  // its countdown moves on every poll
    }
  } catch (e) { /* the server restarts: try again on the next tick */ }
}

async function post(path, body) {
  await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await refresh(true);
}

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("button");
  if (!t) return;
  if (t.dataset.action) post("/api/click", { user, action_id: t.dataset.action, value: t.dataset.value, message_ts: t.dataset.ts, home: !!t.dataset.home });
  else if (t.dataset.thread) {
    const ts = t.dataset.thread;
    if (openThreads.has(ts)) { openThreads.delete(ts); closedThreads.add(ts); } else { openThreads.add(ts); closedThreads.delete(ts); }
    render();
  }
  else if (t.dataset.fold) { showFolded = !showFolded; renderPrivate(); }
  else if (t.dataset.clear) { state.ephemeral.forEach((e) => dismissed.add(e.n)); renderPrivate(); }
  else if (t.dataset.dismiss) { dismissed.add(Number(t.dataset.dismiss)); renderPrivate(); }
  else if (t.dataset.leave) post("/api/meeting/leave", { user, id: t.dataset.leave });
  else if (t.dataset.fault) post("/api/faults", { kind: t.dataset.fault });
});

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  foldBefore = Math.max(-1, ...state.ephemeral.map((e) => e.n)) + 1;  // what answered earlier commands folds
  showFolded = false;
  post("/api/command", { user, text });
});
// A line a participant says goes into the meeting's transcript at the time it is said.
document.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form.say");
  if (!form) return;
  ev.preventDefault();
  const input = form.querySelector("input");
  if (input.value.trim()) post("/api/meeting/say", { user, id: form.dataset.say, text: input.value.trim() });
  input.value = "";
});
$("join").addEventListener("submit", (ev) => { ev.preventDefault(); post("/api/meeting/join", { user, name: $("join-name").value || "guest" }); $("join-name").value = ""; });
$("end").addEventListener("click", () => post("/api/meeting/end", { user }));
$("workflow").addEventListener("submit", (ev) => {
  ev.preventDefault();
  post("/api/workflow", { user, step: $("wf-step").value, by: $("wf-by").value, minutes: $("wf-minutes").value });
});
$("user").addEventListener("change", (ev) => { user = ev.target.value; if (view === "home") post("/api/home", { user }); else refresh(true); });

function show(which) {
  view = which;
  $("channel").hidden = which !== "channel";
  $("home").hidden = which !== "home";
  $("tab-channel").classList.toggle("active", which === "channel");
  $("tab-home").classList.toggle("active", which === "home");
  if (which === "home") post("/api/home", { user });
}
$("tab-channel").addEventListener("click", () => show("channel"));
$("tab-home").addEventListener("click", () => show("home"));

(async function start() {
  await refresh(true);
  $("user").innerHTML = state.people.map((p) => `<option value="${p.id}">${esc(p.name)}</option>`).join("");
  $("user").value = user;
  $("wf-by").innerHTML = state.people.map((p) => `<option value="${p.id}">run by ${esc(p.name)}</option>`).join("") +
    `<option value="">a scheduled trigger (nobody)</option>`;
  if (location.hash === "#meeting") document.querySelector("aside").classList.add("joined");
  render();
  setInterval(refresh, 500);
})();
