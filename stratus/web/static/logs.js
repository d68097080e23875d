// A cluster's logs page: its log streams, and one stream's events a page at a time, newest page
// first. The server's answers are list-cluster-log-streams' and get-cluster-log-events': pages
// move with their tokens (prevToken to older events, nextToken to newer), a time window is sent
// as ISO 8601 in UTC, and errors are pcluster's messages, shown as they come. The search looks
// only in the events of the page shown.
import { api, crumbs, el, fill, notice, segments, when } from "/console/static/common.js";

const NAME = segments()[1];
const BASE = `/console/api/clusters/${encodeURIComponent(NAME)}/logs`;
const LIMIT = 200;
// get-cluster-log-events also ends a page at about a megabyte: a page shorter than LIMIT and
// well under that is the first of its stream.
const PAGE_BYTES = 1_000_000;
const MOST_STREAM_PAGES = 40;

let stream = null;
let range = {};
let page = { events: [], nextToken: null, prevToken: null };

const encoder = new TextEncoder();

/** An event's ISO 8601 time as local date and time, with milliseconds. */
function eventTime(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${when(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}`;
}

/** An event's time in the streams list: month, day and local time (the title has it all). */
function shortTime(iso) {
  return eventTime(iso).slice(5, 19);
}

/** ``text`` with each occurrence of ``query`` (any case) in a <mark>. */
function marked(text, query) {
  if (!query) return [text];
  const parts = [];
  const low = text.toLowerCase();
  const q = query.toLowerCase();
  let at = 0;
  for (let i = low.indexOf(q); i >= 0; i = low.indexOf(q, at)) {
    if (i > at) parts.push(text.slice(at, i));
    parts.push(el("mark", {}, text.slice(i, i + q.length)));
    at = i + q.length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

function streamLink(name) {
  const href = `?stream=${encodeURIComponent(name)}`;
  const link = el("a", { href, class: "mono" }, name);
  link.addEventListener("click", (event) => { event.preventDefault(); choose(name); });
  return link;
}

async function loadStreams() {
  const streams = [];
  let token = null;
  for (let i = 0; i < MOST_STREAM_PAGES; i++) {
    const r = await api(`${BASE}/streams`, { params: { nextToken: token } });
    if (!r.ok) { notice("page-notice", "error", r.data.message); return []; }
    streams.push(...r.data.logStreams);
    token = r.data.nextToken;
    if (!token) break;
  }
  notice("page-notice", "", "");
  document.querySelector("#streams tbody").replaceChildren(...streams.map((s) => el("tr",
    { "data-stream": s.logStreamName, class: s.logStreamName === stream ? "selected" : "" },
    el("td", {}, streamLink(s.logStreamName)),
    el("td", { class: "muted", title: eventTime(s.firstEventTimestamp) }, shortTime(s.firstEventTimestamp)),
    el("td", { class: "muted", title: eventTime(s.lastEventTimestamp) }, shortTime(s.lastEventTimestamp)),
  )));
  document.getElementById("no-streams").hidden = streams.length > 0;
  return streams;
}

function render() {
  const query = document.getElementById("f-search").value.trim();
  const matching = query
    ? page.events.filter((e) => e.message.toLowerCase().includes(query.toLowerCase()))
    : page.events;
  document.querySelector("#events tbody").replaceChildren(...matching.map((e) => el("tr", {},
    el("td", { class: "mono nowrap muted" }, eventTime(e.timestamp)),
    el("td", { class: "mono message" }, marked(e.message, query)),
  )));
  const n = page.events.length;
  let info = n ? `${n} event${n === 1 ? "" : "s"}, ${eventTime(page.events[0].timestamp)} to ${eventTime(page.events[n - 1].timestamp)}` : "No events";
  if (query && n) info = `${matching.length} of ${n} events on this page match`;
  document.getElementById("events-info").textContent = info;
}

/** Ask for a page of events (``extra``: a token); the answer, or null after showing its error. */
async function events(extra = {}) {
  const r = await api(`${BASE}/events`, { params: { stream, limit: LIMIT, ...range, ...extra } });
  if (!r.ok) {
    notice("events-notice", "error", r.data.message);
    return null;
  }
  notice("events-notice", "", "");
  return r.data;
}

/** Show a page; ``backward``: it was read backward (the newest page, an older one), so its
 * newest events are put in view, and a short page is the stream's first. */
function show(data, backward) {
  page = data;
  const bytes = data.events.reduce((sum, e) => sum + encoder.encode(e.message).length + 26, 0);
  document.getElementById("older").disabled = backward && data.events.length < LIMIT && bytes < PAGE_BYTES;
  document.getElementById("newer").disabled = false;
  render();
  const box = document.querySelector("#events").closest(".scroll");
  box.scrollTop = backward ? box.scrollHeight : 0;
}

async function newest() {
  if (!stream) return;
  const data = await events();
  if (data === null) {
    page = { events: [], nextToken: null, prevToken: null };
    render();
    document.getElementById("older").disabled = true;
    document.getElementById("newer").disabled = true;
    return;
  }
  show(data, true);
}

async function older() {
  const data = await events({ nextToken: page.prevToken });
  if (data === null) return;
  if (!data.events.length) {
    notice("events-notice", "info", "No older events.");
    document.getElementById("older").disabled = true;
    return;
  }
  show(data, true);
}

async function newer() {
  const data = await events({ nextToken: page.nextToken });
  if (data === null) return;
  if (!data.events.length) {
    notice("events-notice", "info", "No newer events yet.");
    return;
  }
  show(data, false);
}

function choose(name) {
  stream = name;
  const url = new URL(window.location.href);
  url.searchParams.set("stream", name);
  window.history.replaceState(null, "", url);
  for (const row of document.querySelectorAll("#streams tbody tr")) {
    row.classList.toggle("selected", row.dataset.stream === name);
  }
  fill("stream-title", "Events of ", el("span", { class: "mono" }, name));
  newest();
}

/** A datetime-local value (the browser's local time) as ISO 8601 in UTC; "" stays "". */
function utc(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

crumbs(["Clusters", "/"], [NAME, `/clusters/${encodeURIComponent(NAME)}`], "Logs");
document.title = `stratus: ${NAME} logs`;
fill("title", `Logs of cluster ${NAME}`);
document.getElementById("older").disabled = true;
document.getElementById("newer").disabled = true;
document.getElementById("window").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  range = { startTime: utc(form.start.value), endTime: utc(form.end.value) };
  newest();
});
document.getElementById("clear").addEventListener("click", () => {
  const form = document.getElementById("window");
  form.start.value = "";
  form.end.value = "";
  form.search.value = "";
  range = {};
  newest();
});
document.getElementById("f-search").addEventListener("input", render);
document.getElementById("older").addEventListener("click", older);
document.getElementById("newer").addEventListener("click", newer);
document.getElementById("newest").addEventListener("click", newest);
document.getElementById("reload-streams").addEventListener("click", loadStreams);

loadStreams().then((streams) => {
  const asked = new URLSearchParams(window.location.search).get("stream");
  const names = streams.map((s) => s.logStreamName);
  // The stream the address names, else the jobs' transitions: the log most asked about.
  const first = asked || names.find((n) => n.endsWith(".jobs")) || names[0];
  if (first) choose(first);
});
