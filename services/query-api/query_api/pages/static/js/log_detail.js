// The detail of one attempt: everything needed to fix the postback, and a link to it.

import { api } from "./api.js";
import { codeMeaning } from "./codes.js";
import { byId, fill, h, openDialog } from "./dom.js";
import { statusBadge } from "./log_table.js";
import { refireControl } from "./refire_one.js";

function entry(label, id, ...value) {
  return [h("dt", {}, label), h("dd", { id }, ...value)];
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text || "(none)";
  }
}

function content(record) {
  const configLink = `/postbacks?id=${encodeURIComponent(record.postback_id)}`;
  return [
    h(
      "dl",
      { class: "detail" },
      entry("Status", "detail-status", statusBadge(record.status)),
      entry("Time (UTC)", "detail-time", record.attempted_at),
      entry(
        "Postback",
        "detail-postback",
        record.postback_name,
        " \u00b7 ",
        h("a", { id: "detail-config-link", href: configLink }, "Open its configuration"),
      ),
      entry("Postback type", "detail-type", record.postback_type),
      entry("Offer ID", "detail-offer", String(record.offer_id)),
      entry("Publisher ID", "detail-publisher", String(record.publisher_id)),
      entry("Event ID", "detail-event", record.event_id || "(none)"),
      entry("Transaction ID", "detail-transaction", record.transaction_id),
      entry("Method", "detail-method", record.method),
      // Text, not a link: following it would fire the postback again.
      entry("URL", "detail-url", h("code", { class: "wrap" }, record.url)),
      entry(
        "Response code",
        "detail-code",
        h("strong", {}, String(record.response_code)),
        " \u2014 ",
        h("span", { id: "detail-meaning" }, codeMeaning(record.response_code)),
      ),
      entry("Error", "detail-error", record.error || "(none)"),
      entry("Server response", "detail-response-cell", h("pre", { id: "detail-response", class: "block" }, record.server_response || "(empty)")),
      entry("Latency", "detail-latency", `${record.latency_ms} ms`),
      entry("Trigger", "detail-trigger", record.trigger),
      // 1 unless the configuration's retry policy tried again (2, 3, ...).
      entry("Attempt number", "detail-attempt-number", `Attempt ${record.attempt_number ?? 1}`),
      entry("Attempt ID", "detail-attempt", record.attempt_id),
      record.refire_of ? entry("Re-fire of", "detail-refire", record.refire_of) : [],
    ),
    refireControl(record, showDetail),
    h("h3", {}, "Input that fired it"),
    h("pre", { id: "detail-source", class: "block" }, prettyJson(record.source)),
  ];
}

export async function showDetail(attemptId) {
  const dialog = byId("detail");
  const title = byId("detail-title");
  const body = byId("detail-body");
  fill(title, "Attempt");
  fill(body, h("p", {}, "Loading\u2026"));
  if (!dialog.open) openDialog(dialog);
  try {
    const record = await api("GET", `/api/v1/logs/${encodeURIComponent(attemptId)}`);
    fill(title, `${record.status}: ${record.postback_name}, transaction ${record.transaction_id}`);
    fill(body, ...content(record));
  } catch (error) {
    fill(body, h("p", { class: "error-text", role: "alert" }, error.message));
  }
}
