// What every console page shares: calls to the server, building elements, formatting.

/** The header the server needs on every request that changes something (the session cookie
 * alone is never enough, so another site's page cannot act with it). */
const CONSOLE_HEADER = { "X-Stratus-Console": "1" };

/** Call the server: resolves to {ok, status, data} (data: the JSON answer, or {message}).
 * A lost session sends the browser to the login page. */
export async function api(path, { method = "GET", body, params } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) query.set(k, v);
    if ([...query].length) url += "?" + query;
  }
  const headers = { Accept: "application/json", ...CONSOLE_HEADER };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, status: 0, data: { message: `The server did not answer (${err.message}).` } };
  }
  if (answer.status === 401) {
    window.location.assign("/login");
    return { ok: false, status: 401, data: { message: "Your session has ended: log in again." } };
  }
  let data;
  try { data = await answer.json(); } catch { data = { message: `HTTP ${answer.status}` }; }
  return { ok: answer.ok, status: answer.status, data };
}

/** A new element: el("a", {href: "/"}, "text", child ...); attributes named on* are not set. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value == null || key.startsWith("on")) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replace the contents of the element with id ``id``. */
export function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
  return node;
}

/** Show a notice ("error", "ok" or "info") in the element with id ``id``; "" clears it. */
export function notice(id, kind, text) {
  const node = document.getElementById(id);
  node.className = `notice ${kind}`;
  node.textContent = text || "";
}

const BADGES = {
  CREATE_COMPLETE: "ok", UPDATE_COMPLETE: "ok", RUNNING: "run", COMPLETED: "ok", UP: "ok",
  CREATE_IN_PROGRESS: "wait", UPDATE_IN_PROGRESS: "wait", DELETE_IN_PROGRESS: "wait",
  START_REQUESTED: "wait", STARTING: "wait", STOP_REQUESTED: "wait", STOPPING: "wait",
  PENDING: "wait", CONFIGURING: "wait", COMPLETING: "wait", POWERING_UP: "wait", POWERING_DOWN: "wait",
  CREATE_FAILED: "bad", UPDATE_FAILED: "bad", DELETE_FAILED: "bad", FAILED: "bad", TIMEOUT: "bad",
  NODE_FAIL: "bad", OUT_OF_MEMORY: "bad", BOOT_FAIL: "bad", DEADLINE: "bad", DOWN: "bad",
  CANCELLED: "off", STOPPED: "off", POWERED_DOWN: "off", PREEMPTED: "off",
};

/** A state as a coloured badge. */
export function badge(state, extra = "") {
  return el("span", { class: `badge ${BADGES[state] || ""}`, "data-state": state }, extra ? `${state} ${extra}` : state);
}

/** A POSIX time as local date and time ("" when unset). */
export function when(ts) {
  if (ts == null) return "";
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds as Slurm writes durations: M:SS, H:MM:SS, D-HH:MM:SS. */
export function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  let s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (days) return `${days}-${pad(h)}:${pad(m)}:${pad(s)}`;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** How long a job has run (or ran), by the head node's clock ``now``. */
export function elapsed(job, now) {
  if (job.startTime == null) return "";
  return duration((job.endTime ?? now) - job.startTime);
}

/** The breadcrumbs in the page's header: [[text, href], ..., text]. */
export function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  const items = [];
  parts.forEach((part, i) => {
    if (i) items.push(el("span", { class: "sep" }, "/"));
    items.push(Array.isArray(part) ? el("a", { href: part[1] }, part[0]) : el("span", {}, part));
  });
  nav.replaceChildren(...items);
}

/** Run ``task`` now and then every ``ms`` milliseconds after each run ends, while ``keep()``. */
export function every(ms, task, keep = () => true) {
  const run = async () => {
    try { await task(); } finally { if (keep()) setTimeout(run, ms); }
  };
  run();
}

/** The path segments of this page's URL, decoded. */
export function segments() {
  return window.location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
}

/** The line a validation message is about ("... (line 12, column 3) ..."), or 0 for none. */
const LINE = /\(line (\d+)/;

/** The validation messages of an answer to a create or update: pcluster's
 * configurationValidationErrors, or the validationMessages of one that passed; a document that
 * is not YAML has one message naming its line, which becomes an error at that line. */
export function validationMessages(answer) {
  const data = answer.data || {};
  const messages = data.configurationValidationErrors || data.validationMessages || [];
  if (!messages.length && answer.status === 400 && LINE.test(data.message || "")) {
    return [{ level: "ERROR", message: data.message }];
  }
  return messages;
}

/** Show the configuration ``text`` with each message under the line it names (in the <ol> with
 * id ``list``), and the messages that name no line in the <ul> with id ``general``. No message:
 * the list is hidden. The first flagged line is scrolled into view. */
export function annotate(text, messages, { list = "annotated", general = "general-messages" } = {}) {
  const byLine = new Map();
  const others = [];
  for (const m of messages) {
    const found = LINE.exec(m.message || "");
    const line = found ? Number(found[1]) : 0;
    if (line > 0) {
      if (!byLine.has(line)) byLine.set(line, []);
      byLine.get(line).push(m);
    } else others.push(m);
  }
  const level = (m) => String(m.level || "ERROR").toLowerCase();
  const msg = (m) => el("div", { class: `msg ${level(m)}` }, `${m.level}: ${m.message}${m.type ? ` (${m.type})` : ""}`);
  fill(general, others.map((m) => el("li", { class: `msg ${level(m)}` }, `${m.level}: ${m.message}`)));
  const items = text.split("\n").map((line, i) => {
    const here = byLine.get(i + 1) || [];
    const worst = ["error", "warning", "info"].find((l) => here.some((m) => level(m) === l));
    return el("li", { "data-line": i + 1, class: worst ? `flagged ${worst}` : "" },
      el("span", { class: "ln" }, i + 1), el("code", {}, line || " "), here.map(msg));
  });
  const node = fill(list, items);
  node.hidden = messages.length === 0;
  const first = node.querySelector("li.flagged");
  if (first) node.scrollTop = Math.max(0, first.offsetTop - 40);
}
