// "Re-fire all N matching": a bulk re-fire of the page's view. The dry run's count is shown in
// a confirmation first; once started, the job is polled and its progress shown until every
// attempt it asked for is in the log.

import { api } from "./api.js";
import { byId, fill, h, openDialog, showError } from "./dom.js";

const POLL_MS = 1000;

let pendingQuery = null;
let polling = null;

/** Shows the button for a filtered view (`filtered`) with `total` matching attempts. */
export function showBulkRefire(filtered, total) {
  const button = byId("refire-all");
  button.hidden = !filtered || !total;
  fill(button, `Re-fire all ${total} matching`);
}

async function askToConfirm(query) {
  const button = byId("refire-all");
  button.disabled = true;
  try {
    const dry = await api("POST", `/api/v1/refires?${withFlag(query, "dry_run", "true")}`);
    pendingQuery = query;
    const pairs = dry.count;
    fill(
      byId("refire-summary"),
      pairs === 0
        ? "Nothing to re-fire: every matching transaction has since succeeded (or was a test fire)."
        : `${pairs} (transaction, postback) pair${pairs === 1 ? "" : "s"} will be fired once each, ` +
            "with each postback's configuration as it is now. Pairs that succeeded since they " +
            "failed are skipped.",
    );
    byId("refire-confirm").hidden = pairs === 0;
    openDialog(byId("refire-dialog"));
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function start(onFinished) {
  const dialog = byId("refire-dialog");
  byId("refire-confirm").disabled = true;
  try {
    const job = await api("POST", `/api/v1/refires?${pendingQuery}`);
    dialog.close();
    follow(job.job_id, onFinished);
  } catch (error) {
    fill(byId("refire-summary"), h("span", { class: "error-text", role: "alert" }, error.message));
  } finally {
    byId("refire-confirm").disabled = false;
  }
}

function follow(jobId, onFinished) {
  const panel = byId("refire-progress");
  panel.hidden = false;
  clearTimeout(polling);
  const tick = async () => {
    try {
      const job = await api("GET", `/api/v1/refires/${encodeURIComponent(jobId)}`);
      showProgress(job);
      const settled = job.state === "failed" || (job.state === "done" && job.pending === 0);
      if (settled) {
        onFinished();
        return;
      }
    } catch (error) {
      fill(byId("refire-progress-text"), h("span", { class: "error-text", role: "alert" }, error.message));
    }
    polling = setTimeout(tick, POLL_MS);
  };
  tick();
}

function showProgress(job) {
  const bar = byId("refire-progress-bar");
  bar.max = Math.max(job.selected, 1);
  bar.value = Math.min(job.fired + job.skipped, bar.max);
  if (job.state === "done" && job.pending === 0) bar.value = bar.max;
  const parts = [
    `Re-fire ${job.state}: ${job.fired} of ${job.selected} fired`,
    `${job.succeeded} succeeded`,
    `${job.failed} failed`,
  ];
  if (job.pending) parts.push(`${job.pending} pending`);
  if (job.skipped) parts.push(`${job.skipped} skipped`);
  fill(byId("refire-progress-text"), parts.join(" \u00b7 "), job.error ? ` \u2014 ${job.error}` : "");
}

function withFlag(query, name, value) {
  const params = new URLSearchParams(query);
  params.set(name, value);
  return params.toString();
}

/** Wires the button and the dialog; `currentQuery()` is the view's query string. */
export function setUpBulkRefire(currentQuery, onFinished) {
  byId("refire-all").addEventListener("click", () => askToConfirm(currentQuery()));
  byId("refire-confirm").addEventListener("click", () => start(onFinished));
  byId("refire-cancel").addEventListener("click", () => byId("refire-dialog").close());
}
