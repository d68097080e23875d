// The clusters page: the list (status, compute fleet), fleet start and stop, delete, and
// create from a pasted configuration with the validation messages shown at their lines.
import { annotate, api, badge, crumbs, el, every, notice, when } from "/console/static/common.js";

function fleetButton(cluster) {
  const fleet = cluster.computeFleetStatus;
  if (!fleet || cluster.clusterStatus?.startsWith("DELETE")) return null;
  const stopping = ["RUNNING", "STARTING", "START_REQUESTED", "ENABLED"].includes(fleet);
  const button = el("button", { type: "button", "data-action": stopping ? "stop" : "start" },
    stopping ? "Stop fleet" : "Start fleet");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const status = stopping ? "STOP_REQUESTED" : "START_REQUESTED";
    const r = await api(`/v3/clusters/${encodeURIComponent(cluster.clusterName)}/computefleet`,
      { method: "PATCH", body: { status } });
    notice("list-notice", r.ok ? "ok" : "error",
      r.ok ? `Compute fleet of ${cluster.clusterName}: ${status}.` : r.data.message);
    await load();
  });
  return button;
}

function deleteButton(cluster) {
  if (cluster.clusterStatus === "DELETE_IN_PROGRESS") return null;
  const button = el("button", { type: "button", class: "danger", "data-action": "delete" }, "Delete");
  button.addEventListener("click", async () => {
    if (!window.confirm(`Delete cluster ${cluster.clusterName}? Its nodes are stopped and its files removed.`)) return;
    button.disabled = true;
    const r = await api(`/v3/clusters/${encodeURIComponent(cluster.clusterName)}`, { method: "DELETE" });
    notice("list-notice", r.ok ? "ok" : "error",
      r.ok ? `Cluster ${cluster.clusterName} is being deleted.` : r.data.message);
    await load();
  });
  return button;
}

async function load() {
  const r = await api("/console/api/clusters");
  if (!r.ok) { notice("list-notice", "error", r.data.message); return; }
  const rows = r.data.clusters.map((c) => el("tr", { "data-cluster": c.clusterName },
    el("td", {}, el("a", { href: `/clusters/${encodeURIComponent(c.clusterName)}` }, c.clusterName)),
    el("td", { class: "status" }, badge(c.clusterStatus)),
    el("td", { class: "fleet" }, c.computeFleetStatus ? badge(c.computeFleetStatus) : ""),
    el("td", {}, c.headNode ? c.headNode.state : ""),
    el("td", {}, c.scheduler ? c.scheduler.type : ""),
    el("td", { class: "muted" }, c.creationTime ? when(Date.parse(c.creationTime) / 1000) : ""),
    el("td", {}, el("div", { class: "actions" }, fleetButton(c), deleteButton(c))),
  ));
  document.querySelector("#clusters tbody").replaceChildren(...rows);
  document.getElementById("no-clusters").hidden = rows.length > 0;
}

async function create(event) {
  event.preventDefault();
  const dry = event.submitter && event.submitter.value === "check";
  const form = event.target;
  const name = form.clusterName.value.trim();
  const text = form.clusterConfiguration.value;
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  notice("create-notice", "info", dry ? "Checking…" : "Creating…");
  const r = await api("/v3/clusters", {
    method: "POST", params: dry ? { dryrun: "true" } : undefined,
    body: { clusterName: name, clusterConfiguration: text },
  });
  for (const b of form.querySelectorAll("button")) b.disabled = false;
  const messages = r.data.configurationValidationErrors || r.data.validationMessages || [];
  annotate(text, messages);
  if (r.status === 202) {
    notice("create-notice", "ok", `Cluster ${name} is being created.`);
    await load();
  } else if (r.status === 412) {
    notice("create-notice", "ok", "The configuration is valid: nothing was created.");
  } else {
    notice("create-notice", "error", r.data.message || `HTTP ${r.status}`);
  }
}

crumbs("Clusters");
document.getElementById("create").addEventListener("submit", create);
every(3000, load);
