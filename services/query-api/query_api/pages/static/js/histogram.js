// The histogram above the log table: attempts per time bucket, stacked by status, for the
// page's view (GET /api/v1/logs/histogram), so the moment failures started stands out. Each
// bucket is a button: a click (or Enter) narrows the time range to its edges.

import { api } from "./api.js";
import { byId, fill, h, shortTime } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
// Stacked from the bottom: failures first, where the eye compares bars; then successes; then
// any other status the log may hold one day, in the order the API lists them.
const ORDER = ["Failed", "Success"];
const CLASSES = { Failed: "failed", Success: "success" };
// A bar's height, in the units of its viewBox.
const HEIGHT = 100;
// A single failure beside thousands of successes would be under a pixel: every status present
// gets at least this much of the height, so one failure is still seen.
const MIN_SEGMENT = 2;

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

// Milliseconds -> the RFC 3339 form the page's address holds ("2026-11-28T01:02:03Z").
function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function duration(seconds) {
  for (const [unit, size] of [["day", 86400], ["h", 3600], ["min", 60]]) {
    if (seconds >= size) return unit === "day" ? plural(seconds / size, unit) : `${seconds / size} ${unit}`;
  }
  return `${seconds} s`;
}

// "2026-11-28 01:00:00 to 01:15:00 UTC": the end's date only when it differs.
function span(start, end) {
  const [from, to] = [shortTime(rfc3339(start)), shortTime(rfc3339(end))];
  return `${from} to ${to.slice(0, 10) === from.slice(0, 10) ? to.slice(11) : to} UTC`;
}

/** The answer as buckets: [{start, end, counts: Map(status -> attempts), total}], oldest first,
 * every bucket from `from` to `to` (empty ones too), the first and last cut at them. */
export function buckets(answer) {
  const size = answer.bucket_seconds * 1000;
  const from = Date.parse(answer.from);
  const to = Date.parse(answer.to);
  const byStart = new Map();
  for (let start = Math.floor(from / size) * size; start < to; start += size) {
    byStart.set(start, { start: Math.max(start, from), end: Math.min(start + size, to), counts: new Map(), total: 0 });
  }
  for (const item of answer.items) {
    const bucket = byStart.get(Date.parse(item.bucket));
    if (!bucket) continue;
    bucket.counts.set(item.status, item.attempts);
    bucket.total += item.attempts;
  }
  return [...byStart.values()];
}

function statusesOf(list) {
  const seen = new Set(ORDER);
  for (const bucket of list) for (const status of bucket.counts.keys()) seen.add(status);
  return [...seen];
}

export class Histogram {
  /** onPick({from, to}) when a bucket is chosen: RFC 3339 edges for the page's time range. */
  constructor(onPick) {
    this.onPick = onPick;
    this.area = byId("histogram");
    this.generation = 0;
  }

  /** Reads and draws the histogram of the view's API query (filters.viewQuery). */
  async load(query) {
    const mine = ++this.generation;
    this.area.setAttribute("aria-busy", "true");
    try {
      const answer = await api("GET", query ? `/api/v1/logs/histogram?${query}` : "/api/v1/logs/histogram");
      if (mine === this.generation) this.draw(answer);
    } catch (error) {
      // The table beside it says what is wrong with the view (the same query fails there);
      // this says only that there is no histogram.
      if (mine === this.generation) fill(this.area, h("p", { class: "hint" }, `No histogram: ${error.message}`));
    } finally {
      if (mine === this.generation) this.area.removeAttribute("aria-busy");
    }
  }

  draw(answer) {
    const list = buckets(answer);
    const statuses = statusesOf(list);
    const highest = Math.max(1, ...list.map((bucket) => bucket.total));
    const attempts = list.reduce((sum, bucket) => sum + bucket.total, 0);
    const per = duration(answer.bucket_seconds);
    const bars = h("div", { class: "histogram-bars", role: "group", "aria-label": `Attempts per ${per}; choose one to show only its time`, "data-bucket-seconds": answer.bucket_seconds });
    bars.append(...list.map((bucket) => this.bar(bucket, statuses, highest)));
    if (bars.firstElementChild) bars.firstElementChild.tabIndex = 0;
    bars.addEventListener("keydown", (event) => this.move(event, bars));
    fill(
      this.area,
      h(
        "div",
        { class: "histogram-head" },
        h("span", { class: "hint" }, `${plural(attempts, "attempt")} per ${per}, by status${answer.source === "rollup" ? " (from the per-minute rollup)" : ""}. Choose a bar to show only its time.`),
        h("span", { class: "histogram-legend", "aria-hidden": "true" }, ...statuses.map((status) => h("span", { class: `key ${CLASSES[status] || "other"}` }, status))),
      ),
      bars,
      h("div", { class: "histogram-axis", "aria-hidden": "true" }, h("span", {}, shortTime(answer.from)), h("span", {}, shortTime(answer.to))),
    );
  }

  bar(bucket, statuses, highest) {
    const counts = statuses.map((status) => `${status} ${bucket.counts.get(status) || 0}`);
    const label = `${span(bucket.start, bucket.end)}: ${plural(bucket.total, "attempt")} (${counts.join(", ")})`;
    const picture = svg("svg", { viewBox: `0 0 1 ${HEIGHT}`, preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
    const present = statuses.filter((status) => bucket.counts.get(status));
    const heights = present.map((status) => Math.max(MIN_SEGMENT, (bucket.counts.get(status) / highest) * HEIGHT));
    // The minimum may push the tallest bar past the top: it is then scaled back in.
    const scale = Math.min(1, HEIGHT / heights.reduce((sum, height) => sum + height, 0));
    let top = HEIGHT;
    present.forEach((status, index) => {
      const height = heights[index] * scale;
      top -= height;
      picture.append(svg("rect", { class: CLASSES[status] || "other", x: 0, y: top, width: 1, height }));
    });
    return h(
      "button",
      {
        type: "button",
        class: "histogram-bar",
        tabindex: "-1",
        "aria-label": label,
        title: label,
        "data-start": rfc3339(bucket.start),
        "data-total": bucket.total,
        onclick: () => this.onPick({ from: rfc3339(bucket.start), to: rfc3339(bucket.end) }),
      },
      picture,
    );
  }

  // One tab stop for the whole histogram; the arrow keys, Home and End move between bars.
  move(event, bars) {
    const all = [...bars.children];
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: all.length - 1 }[event.key];
    if (next === undefined || !all[next]) return;
    event.preventDefault();
    all[at].tabIndex = -1;
    all[next].tabIndex = 0;
    all[next].focus();
  }
}
