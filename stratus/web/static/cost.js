// A cluster's cost page: what its jobs have cost (the costliest first, and summed by user,
// account and queue, each grouping with a bar chart drawn as inline SVG), and what its machines
// up now cost per hour, in all and in the parts no job holds. Read again every five seconds.
import { api, badge, crumbs, duration, el, every, fill, notice, segments } from "/console/static/common.js";

const NAME = segments()[1];
const URL_COSTS = `/console/api/clusters/${encodeURIComponent(NAME)}/costs`;
const SVG = "http://www.w3.org/2000/svg";
// A chart shows this many bars; the rest of a grouping is one more, "others".
const BARS = 8;
let gone = false;

/** Dollars as sacct's Cost prints them: four decimals (hundredths of a cent). */
const dollars = (x) => `$${Number(x).toFixed(4)}`;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** A horizontal bar chart of ``rows`` ({name, cost, jobs}, costliest first) as an SVG element. */
function chart(rows, what) {
  let shown = rows.slice(0, BARS);
  const rest = rows.slice(BARS);
  if (rest.length) {
    shown = [...shown, {
      name: `${rest.length} others`, cost: rest.reduce((s, r) => s + r.cost, 0),
      jobs: rest.reduce((s, r) => s + r.jobs, 0), others: true,
    }];
  }
  const width = 360, row = 24, labelW = 104, barW = 170;
  const top = Math.max(...shown.map((r) => r.cost), 0);
  const total = rows.reduce((s, r) => s + r.cost, 0);
  const picture = svg("svg", {
    viewBox: `0 0 ${width} ${shown.length * row}`, class: "bars", role: "img",
    "aria-label": `Cost by ${what}`,
  });
  shown.forEach((r, i) => {
    const y = i * row;
    const w = top > 0 ? Math.max((r.cost / top) * barW, r.cost > 0 ? 1 : 0) : 0;
    const label = r.name === "" ? "(none)" : r.name;
    const share = total > 0 ? ` (${Math.round((r.cost / total) * 100)}%)` : "";
    picture.append(svg("g", { "data-name": r.name, class: r.others ? "others" : "" },
      svg("title", {}, `${label}: ${dollars(r.cost)}${share}, ${r.jobs} job${r.jobs === 1 ? "" : "s"}`),
      svg("text", { x: labelW - 6, y: y + row / 2, class: "label", "text-anchor": "end", "dominant-baseline": "middle" },
        label.length > 14 ? `${label.slice(0, 13)}…` : label),
      svg("rect", { x: labelW, y: y + 4, width: w.toFixed(1), height: row - 8, rx: 2, class: "bar" }),
      svg("text", { x: labelW + w + 5, y: y + row / 2, class: "value", "dominant-baseline": "middle" }, dollars(r.cost)),
    ));
  });
  return picture;
}

function grouping(id, rows, what) {
  if (!rows.length) { fill(id, el("p", { class: "muted" }, "Nothing charged yet.")); return; }
  fill(id, chart(rows, what));
}

async function load() {
  const limit = document.getElementById("f-limit").value;
  const r = await api(URL_COSTS, { params: { limit } });
  if (!r.ok) {
    notice("page-notice", "error", r.data.message);
    gone = r.status === 404;
    document.getElementById("cost").hidden = true;
    return;
  }
  notice("page-notice", "", "");
  const d = r.data;
  document.getElementById("cost").hidden = false;
  fill("c-total", dollars(d.total));
  fill("c-jobs", String(d.jobCount));
  fill("c-hour", `${dollars(d.costPerHour)}/h`);
  fill("c-idle", `${dollars(d.idleCostPerHour)}/h`);
  grouping("by-user", d.byUser, "user");
  grouping("by-account", d.byAccount, "account");
  grouping("by-queue", d.byQueue, "queue");
  const jobUrl = (id) => `/clusters/${encodeURIComponent(NAME)}/jobs/${id}`;
  document.querySelector("#cost-jobs tbody").replaceChildren(...d.jobs.map((j) => el("tr", { "data-job": j.id },
    el("td", { class: "mono" }, el("a", { href: jobUrl(j.id) }, j.label)),
    el("td", {}, j.name),
    el("td", {}, j.user),
    el("td", {}, j.account),
    el("td", {}, j.queue),
    el("td", {}, j.state ? badge(j.state) : ""),
    el("td", { class: "num" }, duration(j.elapsed)),
    el("td", { class: "num mono cost" }, Number(j.cost).toFixed(4)),
  )));
  document.getElementById("no-cost").hidden = d.jobs.length > 0;
}

crumbs(["Clusters", "/"], [NAME, `/clusters/${encodeURIComponent(NAME)}`], "Cost");
document.title = `stratus: ${NAME} cost`;
fill("title", `Cost of cluster ${NAME}`);
document.getElementById("f-limit").addEventListener("change", load);
every(5000, load, () => !gone);
