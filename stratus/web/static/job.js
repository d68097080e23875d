// A job's page: what it is and where it runs, its timeline of transitions, the end of its
// output, and cancel, hold and release. Read again every two seconds until the job has ended.
import { api, badge, crumbs, duration, el, elapsed, every, fill, notice, segments, when } from "/console/static/common.js";

const [, NAME, , JOB] = segments();
const JOB_URL = `/console/api/clusters/${encodeURIComponent(NAME)}/jobs/${encodeURIComponent(JOB)}`;
let done = false;
let missing = false;

function fact(term, value) {
  return [el("dt", {}, term), el("dd", { "data-fact": term }, value === "" || value == null ? "—" : value)];
}

async function load() {
  const r = await api(JOB_URL);
  if (!r.ok) {
    notice("page-notice", "error", r.data.message);
    missing = r.status === 404;
    document.getElementById("job").hidden = true;
    fill("title", `Job ${JOB}`);
    return;
  }
  notice("page-notice", "", "");
  const { job, records, timeline, output, now } = r.data;
  document.getElementById("job").hidden = false;
  fill("title", `Job ${job.label}`, el("span", { id: "job-state" }, badge(job.state, job.held ? "(held)" : "")));
  fill("facts",
    fact("Name", job.name), fact("User", job.user), fact("Account", job.account), fact("Queue", job.queue),
    fact("Nodes", job.nodes.join(", ")), fact("CPUs", job.cpus),
    fact("Reason", job.reason === "None" ? "" : job.reason),
    fact("Submitted", when(job.submitTime)), fact("Started", when(job.startTime)), fact("Ended", when(job.endTime)),
    fact("Run time", elapsed(job, now)), fact("Time limit", job.timeLimit == null ? "unlimited" : duration(job.timeLimit)),
    fact("Exit code", job.final ? `${job.exitCode}:${job.exitSignal}` : ""), fact("Requeued", job.run || ""),
    fact("Working directory", job.workdir || ""), fact("Submitted through", job.door),
  );
  document.getElementById("cancel").disabled = job.final;
  document.getElementById("hold").disabled = !(job.state === "PENDING" && !job.held);
  document.getElementById("release").disabled = !(job.state === "PENDING" && job.held);
  document.querySelector("#timeline tbody").replaceChildren(...timeline.map((t) => el("tr", {},
    el("td", { class: "muted" }, when(t.time)),
    el("td", { class: "mono" }, t.key),
    el("td", {}, t.old || "∅", el("span", { class: "arrow" }, "→"), badge(t.new)),
    el("td", {}, t.cause),
    el("td", { class: "muted" }, t.reason === "None" ? "" : t.reason),
  )));
  document.getElementById("records-panel").hidden = records.length < 2;
  document.querySelector("#records tbody").replaceChildren(...records.map((j) => el("tr", {},
    el("td", { class: "mono" }, j.label), el("td", {}, badge(j.state)), el("td", { class: "mono" }, j.nodes.join(",")),
    el("td", { class: "num" }, elapsed(j, now)), el("td", {}, j.final ? `${j.exitCode}:${j.exitSignal}` : ""),
  )));
  const pre = document.getElementById("output");
  if (output) {
    document.getElementById("output-path").textContent =
      output.path + (output.truncated ? ` (the last ${output.text.length} characters of ${output.size} bytes)` : "");
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = output.text || `(${output.message || "empty"})`;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  } else {
    document.getElementById("output-path").textContent = "";
    pre.textContent = job.startTime == null ? "(the job has not started)" : "(no output file is known for this job)";
  }
  done = records.every((j) => j.final);
}

async function act(action) {
  for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
  const r = await api(`${JOB_URL}/${action}`, { method: "POST" });
  const words = { cancel: "Cancel requested.", hold: "Held.", release: "Released." };
  notice("action-notice", r.ok ? "ok" : "error", r.ok ? words[action] : r.data.message);
  await load();
  if (!polling) poll();
}

crumbs(["Clusters", "/"], [NAME, `/clusters/${encodeURIComponent(NAME)}`], `Job ${JOB}`);
document.title = `stratus: job ${JOB} on ${NAME}`;
for (const b of document.querySelectorAll("button[data-action]")) b.addEventListener("click", () => act(b.dataset.action));
let polling = false;
function poll() {
  let extra = 1;  // once the job has ended, read it once more (its output's last lines)
  polling = true;
  every(2000, load, () => (polling = !missing && (!done || extra-- > 0)));
}
poll();
