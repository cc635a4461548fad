// The workbench page: polls /api/state and renders the channel as Slack would show it.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null, version = -1, user = "U0ALICE", view = "channel";
const openThreads = new Set();

const EMOJI = {
  red_circle: "🔴", double_vertical_bar: "⏸️", arrow_forward: "▶️", black_square_for_stop: "⏹️",
  white_check_mark: "✅", x: "❌", hourglass_flowing_sand: "⏳", hourglass: "⌛", arrow_up: "⬆️",
  arrow_down: "⬇️", warning: "⚠️", bell: "🔔", no_entry: "⛔", link: "🔗", sparkles: "✨", alarm_clock: "⏰",
  memo: "📝", clipboard: "📋", bookmark: "🔖", checkered_flag: "🏁",
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
    if (b.type === "actions") {
      return `<div class="actions">${b.elements.map((e) => `<button class="${e.style || ""}" data-action="${esc(e.action_id)}"
        data-value="${esc(e.value)}" data-ts="${esc(messageTs || "")}" data-home="${home ? 1 : ""}">${textObject(e.text)}</button>`).join("")}</div>`;
    }
    return "";
  }).join("");
}

function audioFor(html) {
  const m = html.match(/href="(http[^"]+\.wav[^"]*)"/);
  return m ? `<audio controls preload="none" src="${m[1]}"></audio>` : "";
}

function renderMessage(m, opts = {}) {
  const body = m.blocks ? renderBlocks(m.blocks, m.ts) : mrkdwn(m.text);
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
  const msgs = state.messages.map((m) => {
    const n = m.replies.length;
    const open = openThreads.has(m.ts);
    const toggle = n ? `<button class="thread-toggle" data-thread="${esc(m.ts)}">${open ? "Hide" : n} ${n === 1 ? "reply" : "replies"}</button>` : "";
    const thread = open ? `<div class="thread">${m.replies.map((r) => renderMessage(r)).join("")}</div>` : "";
    return renderMessage(m, { extra: toggle + thread });
  });
  const broadcasts = state.broadcasts.map((m) => renderMessage(m, { extra: `<div class="only muted small">replied to a thread, also sent to the channel</div>` }));
  const dms = state.dms.map((m) => renderMessage(m, { cls: "ephemeral", extra: `<div class="only">Direct message to you</div>` }));
  $("messages").innerHTML = msgs.join("") + broadcasts.join("") + dms.join("") ||
    `<p class="muted">No messages yet. Type <code>/rec start</code> below.</p>`;
  $("ephemeral").innerHTML = state.ephemeral.map((e) =>
    `<div class="msg ephemeral"><div class="only">👁 Only visible to you</div>${e.blocks ? renderBlocks(e.blocks) : mrkdwn(e.text)}</div>`).join("");
  $("ephemeral").scrollTop = 1e9;
  const meeting = state.meeting;
  $("meeting").innerHTML = `<div><b>${esc(meeting.title)}</b> <span class="muted small">${meeting.live ? "live" : "no live session"}</span></div>
    <div class="muted small">${esc(meeting.id)}</div>` + meeting.participants.map((p) =>
    `<div class="row"><span>👤 ${esc(p.name)}</span><button data-leave="${esc(p.id)}">Leave</button></div>`).join("");
  $("recordings").innerHTML = meeting.recordings.map((r) => `<div class="row"><span class="status">${esc(r.status)}</span>
    <span class="muted small">${esc(r.id.slice(0, 8))}</span></div>${r.url ? `<audio controls preload="none" src="${r.url}"></audio>` : ""}`).join("")
    || `<p class="muted small">none yet</p>`;
  $("mode").textContent = state.mode === "socket" ? "Socket Mode: over the bot's WebSocket"
    : "HTTP: signed requests to /slack/events";
  const f = state.faults;
  $("metrics").href = state.metrics_url;
  $("fault-counts").textContent = `injected: platform 500×${f.platform["500"]}, webhooks dropped×${f.webhooks.dropped}, ` +
    `duplicated×${f.webhooks.duplicated}, Slack 429×${f.slack["429"]}`;
  $("home").innerHTML = state.home ? renderBlocks(state.home.blocks, "", true)
    : `<p class="muted">Open the Home tab to let recbot publish it.</p>`;
}

async function refresh(force) {
  try {
    const r = await fetch(`/api/state?user=${encodeURIComponent(user)}`);
    const next = await r.json();
    if (force || next.version !== version || !state) {
      const nearBottom = $("messages").scrollHeight - $("messages").scrollTop - $("messages").clientHeight < 80;
      state = next; version = next.version; render();
      if (nearBottom) $("messages").scrollTop = 1e9;
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
  else if (t.dataset.thread) { openThreads.has(t.dataset.thread) ? openThreads.delete(t.dataset.thread) : openThreads.add(t.dataset.thread); render(); }
  else if (t.dataset.leave) post("/api/meeting/leave", { user, id: t.dataset.leave });
  else if (t.dataset.fault) post("/api/faults", { kind: t.dataset.fault });
});

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  post("/api/command", { user, text });
});
$("join").addEventListener("submit", (ev) => { ev.preventDefault(); post("/api/meeting/join", { user, name: $("join-name").value || "guest" }); $("join-name").value = ""; });
$("end").addEventListener("click", () => post("/api/meeting/end", { user }));
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
  render();
  setInterval(refresh, 500);
})();
