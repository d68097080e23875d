// A cluster's page: its queues and nodes, its jobs (filtered, a page at a time), and a form
// that submits a batch script. Everything is read again every few seconds.
import { api, badge, crumbs, el, elapsed, every, fill, notice, segments, when } from "/console/static/common.js";

const NAME = segments()[1];
const BASE = `/console/api/clusters/${encodeURIComponent(NAME)}`;
const PAGE = 50;
let offset = 0;
let gone = false;

const jobLink = (id, label) => el("a", { href: `/clusters/${encodeURIComponent(NAME)}/jobs/${id}` }, label);

function nodeState(n) {
  if (n.state === "UP" && n.activity) return badge(n.state, `· ${n.activity}`);
  return badge(n.state);
}

async function overview() {
  const r = await api(`${BASE}/overview`);
  if (!r.ok) {
    notice("page-notice", "error", r.data.message);
    gone = r.status === 404;
    return;
  }
  notice("page-notice", "", "");
  const d = r.data;
  fill("title", `Cluster ${d.cluster}`, el("span", { class: "muted", style: "font-size:.9rem" }, "compute fleet"), badge(d.fleet));
  document.querySelector("#queues tbody").replaceChildren(...d.queues.map((q) => el("tr", { "data-queue": q.name },
    el("td", {}, q.name, q.default ? el("span", { class: "muted" }, " (default)") : ""),
    el("td", {}, q.disabled ? badge("DISABLED") : q.up ? badge("UP") : badge("INACTIVE")),
    el("td", { class: "num" }, q.nodes),
    el("td", {}, Object.entries(q.nodeStates).map(([s, n]) => el("span", { style: "margin-right:.3rem" }, badge(s, `× ${n}`)))),
    el("td", { class: "num" }, q.pending),
    el("td", { class: "num" }, q.running),
  )));
  document.querySelector("#nodes tbody").replaceChildren(...d.nodes.map((n) => el("tr", { "data-node": n.name },
    el("td", { class: "mono" }, n.name, n.static ? el("span", { class: "muted" }, " static") : ""),
    el("td", {}, n.queues.join(", ")),
    el("td", {}, n.instanceType),
    el("td", { class: "state" }, nodeState(n)),
    el("td", { class: "muted" }, n.reason),
    el("td", { class: "num" }, `${n.allocCpus} / ${n.cpus}`),
    el("td", { class: "nodejobs" }, n.jobs.map((j) => jobLink(j.id, j.label))),
    el("td", { class: "muted" }, when(n.since)),
  )));
}

function options(id, values) {
  const select = document.getElementById(id);
  const current = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  if (values.every((v) => known.has(v)) && known.size === values.length + 1) return;
  select.replaceChildren(el("option", { value: "" }, "all"), ...values.map((v) => el("option", { value: v }, v)));
  select.value = values.includes(current) ? current : "";
}

async function jobs() {
  const f = document.getElementById("filters");
  const r = await api(`${BASE}/jobs`, { params: {
    state: f.state.value, user: f.user.value, queue: f.queue.value,
    scope: f.scope.checked ? "all" : "", offset, limit: PAGE,
  } });
  if (!r.ok) { if (!gone) notice("page-notice", "error", r.data.message); return; }
  const d = r.data;
  options("f-user", d.users);
  options("f-queue", d.queues);
  document.querySelector("#jobs tbody").replaceChildren(...d.jobs.map((j) => el("tr", { "data-job": j.id },
    el("td", { class: "mono" }, jobLink(j.id, j.label)),
    el("td", {}, j.name),
    el("td", {}, j.user),
    el("td", {}, j.queue),
    el("td", { class: "state" }, badge(j.state, j.held ? "(held)" : "")),
    el("td", { class: "muted" }, j.reason === "None" ? "" : j.reason),
    el("td", { class: "mono" }, j.nodes.join(",")),
    el("td", { class: "muted" }, when(j.submitTime)),
    el("td", { class: "num" }, elapsed(j, d.now)),
  )));
  document.getElementById("no-jobs").hidden = d.jobs.length > 0;
  const last = Math.min(d.offset + d.jobs.length, d.total);
  document.getElementById("page-info").textContent = d.total ? `${d.offset + 1}–${last} of ${d.total}` : "";
  document.getElementById("prev").disabled = d.offset === 0;
  document.getElementById("next").disabled = last >= d.total;
}

async function refresh() {
  await overview();
  if (!gone) await jobs();
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const button = document.getElementById("submit-button");
  button.disabled = true;
  const r = await api(`${BASE}/jobs`, { method: "POST", body: { script: form.script.value, workdir: form.workdir.value } });
  button.disabled = false;
  const box = document.getElementById("submit-notice");
  if (r.ok) {
    box.className = "notice ok";
    box.replaceChildren("Submitted batch job ", jobLink(r.data.id, String(r.data.id)), r.data.warnings ? ` (${r.data.warnings})` : "");
    await jobs();
  } else {
    notice("submit-notice", "error", r.data.message);
  }
}

crumbs(["Clusters", "/"], NAME);
document.getElementById("logs-link").href = `/clusters/${encodeURIComponent(NAME)}/logs`;
document.getElementById("cost-link").href = `/clusters/${encodeURIComponent(NAME)}/cost`;
document.getElementById("config-link").href = `/clusters/${encodeURIComponent(NAME)}/config`;
document.getElementById("whatif-link").href = `/clusters/${encodeURIComponent(NAME)}/whatif`;
document.title = `stratus: ${NAME}`;
document.getElementById("submit").addEventListener("submit", submit);
document.getElementById("filters").addEventListener("change", () => { offset = 0; jobs(); });
document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); jobs(); });
document.getElementById("next").addEventListener("click", () => { offset += PAGE; jobs(); });
api("/console/api/clusters").then((r) => {
  const input = document.getElementById("workdir");
  if (r.ok && !input.value) input.value = r.data.workdir;
});
every(2000, refresh, () => !gone);
