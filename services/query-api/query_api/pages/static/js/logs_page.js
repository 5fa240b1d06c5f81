// The Postbacks Logs page: the view (filters, time range, Live) lives in the address; the
// table, the count and the export link follow it.

import { ApiError, api, currentToken, downloadWithToken } from "./api.js";
import { byId, fill, showError } from "./dom.js";
import { FilterBar } from "./filter_bar.js";
import { liveQuery, readView, viewAddress, viewQuery } from "./filters.js";
import { Histogram } from "./histogram.js";
import { LiveSwitch } from "./live_switch.js";
import { showDetail } from "./log_detail.js";
import { logHead, logRow } from "./log_table.js";
import { setUpBulkRefire, showBulkRefire } from "./refire_bulk.js";
import { TimeRange } from "./time_range.js";
import { setUpTokenBar } from "./token_bar.js";

const PAGE_SIZE = 50;
// The most rows the table keeps while Live adds them, so a page left open stays small.
const LIVE_CAP = 500;

let view = readView(location.search);
let cursor = null;
let shown = 0;
let total = null;
// Answers to an older view are dropped: the user may change filters faster than queries end.
let generation = 0;

const filterBar = new FilterBar((filters, other = view.other) => changeView({ ...view, filters, other }));
const changeRange = ({ from, to }) => changeView({ ...view, from, to });
const timeRange = new TimeRange(changeRange);
// A click on a bucket of the histogram narrows the time range to it, as if typed in.
const histogram = new Histogram(changeRange);
const live = new LiveSwitch({ onAttempt: addLive, onSwitch: switchLive, onReload: refresh });

function changeView(next) {
  view = next;
  history.pushState(null, "", viewAddress(view));
  render();
}

function render() {
  filterBar.show(view.filters, view.other);
  timeRange.show(view.from, view.to);
  refresh();
  live.follow(view.live, liveQuery(view));
}

// Switching Live is no step of the history; switched on, the table is read again so that
// nothing logged since it was read is missing between it and what arrives.
function switchLive(on) {
  view = { ...view, live: on };
  history.replaceState(null, "", viewAddress(view));
  live.follow(view.live, liveQuery(view));
  if (on) refresh();
}

// A live attempt goes on top, marked for a moment. The stream sends each read's rows newest
// first, so among the live rows at the top it goes below those newer than it. Rows cut at the
// bottom (past LIVE_CAP) are no longer next to the cursor, so Load more goes: it would leave a
// hole.
function addLive(item) {
  const rows = byId("log-rows");
  // Already shown: read with the table, or sent again after a reconnect.
  if (rows.querySelector(`tr[data-attempt-id="${CSS.escape(item.attempt_id)}"]`)) return;
  const row = logRow(item, showDetail);
  row.dataset.liveAt = String(Date.parse(item.attempted_at));
  row.classList.add("arrived");
  row.addEventListener("animationend", () => row.classList.remove("arrived"), { once: true });
  let below = rows.firstElementChild;
  while (below && Number(below.dataset.liveAt) > Number(row.dataset.liveAt)) below = below.nextElementSibling;
  rows.insertBefore(row, below);
  shown += 1;
  if (total !== null) total += 1;
  for (; rows.rows.length > LIVE_CAP; shown -= 1) {
    rows.lastElementChild.remove();
    cursor = null;
  }
  byId("load-more").hidden = !cursor;
  byId("empty").hidden = true;
  showCount();
}

function withQuery(path, query) {
  return query ? `${path}?${query}` : path;
}

function showCount() {
  const counted = total === null ? "" : `${total} matching attempt${total === 1 ? "" : "s"}`;
  fill(byId("match-count"), counted && `${counted} \u00b7 showing ${shown}`);
}

function setExport(enabled, query) {
  const link = byId("export-link");
  link.href = withQuery("/api/v1/logs/export.csv", query);
  link.classList.toggle("disabled", !enabled);
  if (enabled) link.removeAttribute("aria-disabled");
  else link.setAttribute("aria-disabled", "true");
}

async function refresh() {
  const mine = ++generation;
  const query = viewQuery(view);
  histogram.load(query);
  const list = new URLSearchParams(query);
  list.set("limit", String(PAGE_SIZE));
  byId("log-table").setAttribute("aria-busy", "true");
  try {
    const [page, count] = await Promise.all([
      api("GET", `/api/v1/logs?${list}`),
      api("GET", withQuery("/api/v1/logs/count", query)),
    ]);
    if (mine !== generation) return;
    showError(null);
    total = count.count;
    shown = 0;
    fill(byId("log-rows"));
    addPage(page);
    setExport(true, query);
    showBulkRefire(view.filters.length > 0, total);
  } catch (error) {
    if (mine !== generation) return;
    fill(byId("log-rows"));
    total = null;
    shown = 0;
    cursor = null;
    byId("load-more").hidden = true;
    byId("empty").hidden = true;
    setExport(false, query);
    showBulkRefire(false, 0);
    showError(error);
  } finally {
    if (mine === generation) byId("log-table").removeAttribute("aria-busy");
  }
  showCount();
}

function addPage(page) {
  byId("log-rows").append(...page.items.map((item) => logRow(item, showDetail)));
  shown += page.items.length;
  cursor = page.next_cursor;
  byId("load-more").hidden = !cursor;
  byId("empty").hidden = shown > 0;
}

async function loadMore() {
  const mine = generation;
  const list = new URLSearchParams(viewQuery(view));
  list.set("limit", String(PAGE_SIZE));
  list.set("cursor", cursor);
  const button = byId("load-more");
  button.disabled = true;
  try {
    const page = await api("GET", `/api/v1/logs?${list}`);
    if (mine !== generation) return;
    addPage(page);
    showCount();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

// A plain link streams the export; a bearer header needs fetch (the file is then built in memory).
async function exportClicked(event) {
  const link = byId("export-link");
  if (link.classList.contains("disabled")) {
    event.preventDefault();
    return;
  }
  if (!currentToken()) return;
  event.preventDefault();
  try {
    await downloadWithToken(link.getAttribute("href"), "postback-attempts.csv");
  } catch (error) {
    showError(error instanceof ApiError ? error : new ApiError(0, "download_failed", String(error)));
  }
}

fill(byId("log-head"), logHead());
setUpTokenBar((limits) => filterBar.confine(limits));
setUpBulkRefire(() => viewQuery(view), refresh);
byId("load-more").addEventListener("click", loadMore);
byId("export-link").addEventListener("click", exportClicked);
byId("detail-close").addEventListener("click", () => byId("detail").close());
window.addEventListener("popstate", () => {
  view = readView(location.search);
  render();
});
// A new token: the table and the live stream (which carries the token) start again.
document.addEventListener("tokenchange", render);
render();
