// The what-if page: the cluster's own history replayed on its configuration and on a changed
// one (edited here, starting from its own), waits and cost side by side. The replay runs on the
// server; a configuration that is not valid comes back with its messages, shown at their lines.
import { annotate, api, crumbs, duration, el, fill, notice, segments, validationMessages } from "/console/static/common.js";

const NAME = segments()[1];
const BASE = `/console/api/clusters/${encodeURIComponent(NAME)}/whatif`;
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { current: "#8a96a1", whatIf: "#1f5fa8" };
let original = "";

/** Seconds as a wait reads best: "12.5 s" under a minute, Slurm's H:MM:SS above. */
function seconds(v) {
  if (v == null) return "–";
  return Math.abs(v) < 60 ? `${v.toFixed(1)} s` : `${v < 0 ? "-" : ""}${duration(Math.abs(v))}`;
}
const FIGURES = [
  ["jobs", "jobs", (v) => String(v)],
  ["meanWaitSeconds", "mean wait", seconds],
  ["medianWaitSeconds", "median wait", seconds],
  ["p95WaitSeconds", "p95 wait", seconds],
  ["maxWaitSeconds", "max wait", seconds],
  ["meanBoundedSlowdown", "mean bounded slowdown", (v) => v.toFixed(2)],
  ["utilization", "utilization", (v) => `${(v * 100).toFixed(1)}%`, (d) => `${(d * 100).toFixed(1)} points`],
];
const COSTS = [
  ["nodeHours", "node-hours", (v) => v.toFixed(3)],
  ["cost", "cost (USD)", (v) => v.toFixed(2)],
];

/** An SVG element: svg("rect", {x: 1}, child ...); strings become its text. */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c == null) continue;
    if (typeof c === "string") node.append(document.createTextNode(c));
    else node.append(c);
  }
  return node;
}

/** A grouped bar chart, current beside what-if, each bar labelled with its value. */
function bars(title, groups, format) {
  const W = Math.max(250, 60 + groups.length * 120), H = 230, top = 56, bottom = 30, left = 20;
  const max = Math.max(1e-9, ...groups.flatMap((g) => [g.current, g.whatIf]));
  const scale = (v) => ((H - top - bottom) * v) / max;
  const items = [
    svg("title", {}, title),
    svg("text", { x: left, y: 16, "font-size": 13, "font-weight": 600, fill: "#1d2329" }, title),
  ];
  [["current", "current"], ["whatIf", "what if"]].forEach(([key, label], i) => {
    const x = left + i * 85;
    items.push(svg("rect", { x, y: 25, width: 11, height: 11, fill: COLOURS[key] }));
    items.push(svg("text", { x: x + 15, y: 35, "font-size": 12, fill: "#5b6670" }, label));
  });
  groups.forEach((g, i) => {
    const x0 = left + 10 + i * 120;
    [["current", g.current], ["whatIf", g.whatIf]].forEach(([key, v], j) => {
      const h = scale(v), x = x0 + j * 46, y = H - bottom - h;
      items.push(svg("rect", { x, y, width: 40, height: Math.max(h, 1), fill: COLOURS[key], "data-series": key },
        svg("title", {}, `${g.label}, ${key === "whatIf" ? "what if" : "current"}: ${format(v)}`)));
      items.push(svg("text", { x: x + 20, y: y - 4, "font-size": 11, "text-anchor": "middle", fill: "#1d2329" }, format(v)));
    });
    items.push(svg("text", { x: x0 + 43, y: H - bottom + 16, "font-size": 12, "text-anchor": "middle", fill: "#5b6670" }, g.label));
  });
  items.push(svg("line", { x1: left, x2: W - 10, y1: H - bottom, y2: H - bottom, stroke: "#dde3e8" }));
  return svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart" }, items);
}

/** What-if minus current, with the relative change where there is one to speak of. */
function change(a, b, format, plain = false) {
  if (a == null || b == null) return "";
  const d = b - a;
  const pct = a && !plain ? ` (${d > 0 ? "+" : ""}${((d / a) * 100).toFixed(0)}%)` : "";
  return `${d > 0 ? "+" : ""}${format(d)}${pct}`;
}

function rows(tbody, names, figures, current, whatIf) {
  const out = [];
  for (const name of names) {
    const a = current(name), b = whatIf(name);
    figures.forEach(([key, label, format, difference], i) => {
      const va = a ? a[key] : null, vb = b ? b[key] : null;
      const better = va != null && vb != null && key !== "jobs" && vb !== va;
      out.push(el("tr", { "data-queue": name, "data-figure": key },
        el("td", {}, i === 0 ? name : ""), el("td", {}, label),
        el("td", { class: "num" }, va == null ? "–" : format(va)),
        el("td", { class: "num" }, vb == null ? "–" : format(vb)),
        el("td", { class: `num${better ? " changed" : ""}` }, change(va, vb, difference || format, Boolean(difference)))));
    });
  }
  document.querySelector(`${tbody} tbody`).replaceChildren(...out);
}

function show(doc) {
  const cur = doc.current, next = doc.whatIf;
  document.getElementById("results").hidden = false;
  fill("summary",
    `${doc.history.jobs} jobs replayed with policy ${doc.policy} (nodes booting in ${cur.bootTimeSeconds} s). ` +
    `They really waited ${seconds(doc.history.recorded.meanWaitSeconds)} on average; the replay on the ` +
    `current configuration: ${seconds(cur.overall.meanWaitSeconds)}, on the changed one: ` +
    `${seconds(next.overall.meanWaitSeconds)}.`);
  const waits = [["meanWaitSeconds", "mean"], ["medianWaitSeconds", "median"], ["p95WaitSeconds", "p95"], ["maxWaitSeconds", "max"]]
    .map(([k, label]) => ({ label, current: cur.overall[k], whatIf: next.overall[k] }));
  const costs = [{ label: "in all", current: cur.totalCost || 0, whatIf: next.totalCost || 0 }];
  const queues = [...new Set([...Object.keys(cur.cost || {}), ...Object.keys(next.cost || {})])].sort();
  if (queues.length > 1) {
    for (const q of queues) costs.push({ label: q, current: cur.cost?.[q]?.cost || 0, whatIf: next.cost?.[q]?.cost || 0 });
  }
  fill("charts", bars("Waits (s)", waits, (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0))),
    bars("Cost (USD)", costs, (v) => (v < 1 ? v.toFixed(4) : v.toFixed(2))));
  const names = [...new Set([...Object.keys(cur.queues), ...Object.keys(next.queues)])].sort();
  rows("#figures", names.length > 1 ? ["all", ...names] : ["all"], FIGURES,
    (n) => (n === "all" ? cur.overall : cur.queues[n]), (n) => (n === "all" ? next.overall : next.queues[n]));
  rows("#costs", queues, COSTS, (n) => cur.cost?.[n], (n) => next.cost?.[n]);
  fill("cost-note", `In all: ${(cur.totalCost || 0).toFixed(2)} USD now, ${(next.totalCost || 0).toFixed(2)} USD ` +
    "with the changed configuration (on-demand prices of the instance catalog; static nodes are paid " +
    "all the time, dynamic ones while powered up).");
}

async function compare(event) {
  event.preventDefault();
  const form = event.target;
  const text = form.configuration.value;
  const button = document.getElementById("compare");
  button.disabled = true;
  notice("whatif-notice", "info", "Replaying the history on both configurations…");
  const boot = form.bootTime.value.trim();
  const r = await api(BASE, {
    method: "POST",
    body: {
      configuration: text, since: form.since.value.trim() || null, until: form.until.value.trim() || null,
      policy: form.policy.value || null, bootTime: boot === "" ? null : Number(boot),
    },
  });
  button.disabled = false;
  annotate(text, validationMessages(r));
  if (!r.ok) {
    notice("whatif-notice", "error", r.data.message || `HTTP ${r.status}`);
    return;
  }
  notice("whatif-notice", "ok", "Replayed: the figures are below.");
  show(r.data);
  document.getElementById("results").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function load() {
  const r = await api(BASE);
  if (!r.ok) { notice("page-notice", "error", r.data.message); return; }
  const d = r.data;
  original = d.configuration;
  document.getElementById("config").value = original;
  const select = document.getElementById("policy");
  for (const p of d.policies) select.append(el("option", { value: p }, p));
  const h = d.history;
  if (!h) {
    fill("history", d.message);
    return;
  }
  const left = h.leftOut;
  fill("history", `${h.jobs} finished jobs, submitted ${h.firstSubmit} to ${h.lastSubmit} ` +
    `(left out: ${left.neverStarted} that never started, ${left.unfinished} not finished). They waited ` +
    `${seconds(h.recorded.meanWaitSeconds)} on average, ${seconds(h.recorded.p95WaitSeconds)} at the 95th percentile` +
    (h.medianBootSeconds != null ? `; its nodes booted in ${h.medianBootSeconds.toFixed(1)} s (median).` : "."));
}

crumbs(["Clusters", "/"], [NAME, `/clusters/${encodeURIComponent(NAME)}`], "What if");
fill("title", `What if: cluster ${NAME}`);
document.getElementById("whatif").addEventListener("submit", compare);
document.getElementById("reset").addEventListener("click", () => {
  document.getElementById("config").value = original;
  annotate(original, []);
  notice("whatif-notice", "", "");
});
load();
