// A cluster's configuration page: its configuration, edited here and sent to ParallelCluster's
// UpdateCluster (PUT /v3/clusters/{name}). Check is the dry run: the change set, the validation
// messages at their lines, and the changes the cluster cannot make now with their reasons.
// Update applies it, then the page follows the cluster until UPDATE_COMPLETE or UPDATE_FAILED.
import {
  annotate, api, badge, crumbs, el, every, fill, notice, segments, validationMessages,
} from "/console/static/common.js";

const NAME = segments()[1];
const CLUSTER = `/v3/clusters/${encodeURIComponent(NAME)}`;
const CLUSTER_PAGE = `/clusters/${encodeURIComponent(NAME)}`;
/** How often the page reads the cluster's status while an update runs. */
const FOLLOW_MS = 1500;
let original = "";
let following = false;

/** A change set's value as the table shows it: strings as they are, anything else as JSON. */
function value(v) {
  if (v == null) return el("span", { class: "muted" }, "–");
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The change set as a table (parameter, current, requested); each change the cluster refuses
 * is marked, with the reasons under it. Refusals that match no change get rows of their own. */
function showChanges(changeSet, refusals, title) {
  const box = document.getElementById("changes-box");
  const changes = changeSet || [];
  const errors = refusals || [];
  box.hidden = changes.length === 0 && errors.length === 0;
  if (box.hidden) return;
  fill("changes-title", title);
  const key = (c) => `${c.parameter}\u0000${JSON.stringify(c.requestedValue ?? null)}`;
  const reasons = new Map();
  for (const e of errors) {
    if (!reasons.has(key(e))) reasons.set(key(e), []);
    reasons.get(key(e)).push(e.message);
  }
  const rows = [];
  const row = (c, why) => {
    rows.push(el("tr", { "data-parameter": c.parameter, class: why.length ? "refused" : "" },
      el("td", { class: "mono" }, c.parameter),
      el("td", { class: "mono current" }, value(c.currentValue)),
      el("td", { class: "mono requested" }, value(c.requestedValue))));
    if (why.length) {
      rows.push(el("tr", { class: "reasons", "data-parameter": c.parameter },
        el("td", { colspan: 3 }, why.map((m) => el("div", { class: "msg error" }, m)))));
    }
  };
  for (const c of changes) {
    row(c, reasons.get(key(c)) || []);
    reasons.delete(key(c));
  }
  for (const e of errors) {
    const why = reasons.get(key(e));
    if (why) { row(e, why); reasons.delete(key(e)); }
  }
  document.querySelector("#changes tbody").replaceChildren(...rows);
}

function setStatus(cluster) {
  fill("cluster-status", cluster.clusterStatus ? badge(cluster.clusterStatus) : null);
}

function busy(yes) {
  for (const id of ["check", "update", "reset"]) document.getElementById(id).disabled = yes;
}

/** Read the cluster's configuration file again: what the textarea starts from, and resets to. */
async function loadConfiguration({ replace = true } = {}) {
  const r = await api(`/console/api/clusters/${encodeURIComponent(NAME)}/config`);
  if (!r.ok) { notice("page-notice", "error", r.data.message); return false; }
  original = r.data.configuration;
  if (replace) document.getElementById("config").value = original;
  fill("config-file", "The cluster's file: ", el("code", {}, r.data.configurationFile));
  return true;
}

/** Follow the cluster until the update settles: UPDATE_COMPLETE with its head node running
 * again on the new configuration (what update-cluster --wait waits for), or UPDATE_FAILED. */
function follow() {
  if (following) return;
  following = true;
  busy(true);
  every(FOLLOW_MS, async () => {
    const r = await api(CLUSTER);
    if (!r.ok) {
      notice("config-notice", "error", r.data.message || `HTTP ${r.status}`);
      following = false;
      busy(false);
      return;
    }
    const cluster = r.data;
    setStatus(cluster);
    const status = cluster.clusterStatus;
    const headUp = cluster.headNode?.state === "running";
    if (status === "UPDATE_COMPLETE" && headUp) {
      following = false;
      busy(false);
      await loadConfiguration({ replace: false });
      const box = document.getElementById("config-notice");
      box.className = "notice ok";
      box.replaceChildren(`Cluster ${NAME} is updated (UPDATE_COMPLETE): see `,
        el("a", { href: CLUSTER_PAGE }, "its queues and nodes"), ".");
      fill("changes-title", "Changes applied");
    } else if (status === "UPDATE_FAILED") {
      following = false;
      busy(false);
      const why = (cluster.failures || []).map((f) => f.failureReason || f.failureCode).filter(Boolean);
      notice("config-notice", "error", `The update of cluster ${NAME} failed (UPDATE_FAILED)` +
        (why.length ? `: ${why.join("; ")}` : "."));
    } else if (!status?.startsWith("UPDATE")) {
      following = false;
      busy(false);
      notice("config-notice", "error", `Cluster ${NAME} is ${status}: the update is no longer followed.`);
    } else {
      notice("config-notice", "info", `Updating cluster ${NAME} (${status})…`);
    }
  }, () => following);
}

async function send(event) {
  event.preventDefault();
  const dry = event.submitter?.value === "check";
  const text = document.getElementById("config").value;
  const force = document.getElementById("force").checked;
  busy(true);
  notice("config-notice", "info", dry ? "Checking…" : "Updating…");
  const r = await api(CLUSTER, {
    method: "PUT",
    params: { dryrun: dry ? "true" : undefined, forceUpdate: force ? "true" : undefined },
    body: { clusterConfiguration: text },
  });
  busy(false);
  annotate(text, validationMessages(r));
  const refusals = r.data.updateValidationErrors || [];
  const count = (r.data.changeSet || []).length;
  const changes = `${count} change${count === 1 ? "" : "s"}`;
  if (r.status === 412) {
    showChanges(r.data.changeSet, refusals, "Changes");
    notice("config-notice", "ok", `The update would succeed (${changes}): nothing was changed.`);
  } else if (r.status === 202) {
    showChanges(r.data.changeSet, refusals, "Changes being applied");
    setStatus(r.data.cluster || {});
    notice("config-notice", "info", `Updating cluster ${NAME} (${changes})…`);
    follow();
  } else {
    showChanges(r.data.changeSet, refusals, "Changes");
    const message = r.data.message || `HTTP ${r.status}`;
    // "No changes found" is pcluster's 400, but nothing is wrong with the configuration.
    const kind = /No changes found/.test(message) ? "info" : "error";
    const n = refusals.length;
    const marked = n ? `: ${n === 1 ? "1 change cannot" : `${n} changes cannot`} be made now, for the reasons under ${n === 1 ? "it" : "them"}.` : "";
    notice("config-notice", kind, `${message}${marked}`);
  }
}

async function start() {
  if (!(await loadConfiguration())) return;
  const r = await api(CLUSTER);
  if (!r.ok) return;
  setStatus(r.data);
  if (String(r.data.clusterStatus) === "UPDATE_IN_PROGRESS") follow();
}

crumbs(["Clusters", "/"], [NAME, CLUSTER_PAGE], "Configuration");
fill("title", `Configuration of cluster ${NAME}`);
document.title = `stratus: ${NAME} configuration`;
document.getElementById("update-form").addEventListener("submit", send);
document.getElementById("reset").addEventListener("click", () => {
  document.getElementById("config").value = original;
  annotate(original, []);
  showChanges([], [], "Changes");
  notice("config-notice", "", "");
});
start();
