// Rows of the log table: failed rows marked by a class, an icon and the word, not colour alone.

import { h, shortTime } from "./dom.js";

export function statusBadge(status) {
  const failed = status === "Failed";
  return h(
    "span",
    { class: failed ? "badge failed" : "badge ok" },
    h("span", { "aria-hidden": "true" }, failed ? "\u2716 " : "\u2714 "),
    status,
  );
}

// Long texts are cut by CSS; the title holds all of it, and the detail shows it in full.
function cell(value, className) {
  const text = value === null || value === undefined ? "" : String(value);
  return h("td", { class: className, title: text.length > 12 ? text : null }, text);
}

export function logRow(item, onOpen) {
  const time = shortTime(item.attempted_at);
  const open = () => onOpen(item.attempt_id);
  return h(
    "tr",
    {
      class: item.status === "Failed" ? "failed" : "succeeded",
      "data-attempt-id": item.attempt_id,
      // The whole row opens the detail for a mouse; the time button does it for the keyboard.
      onclick: (event) => {
        if (!event.target.closest("button, a")) open();
      },
    },
    h("td", { class: "c-time" }, h("button", { type: "button", class: "row-open", "aria-label": `${time}: open details`, onclick: open }, time)),
    h("td", { class: "c-status" }, statusBadge(item.status)),
    cell(item.postback_name, "c-name"),
    cell(item.postback_type, "c-type"),
    cell(item.offer_id, "c-num"),
    cell(item.publisher_id, "c-num"),
    cell(item.event_id, "c-event"),
    cell(item.transaction_id, "c-tx"),
    cell(item.response_code, "c-code"),
    cell(item.url, "c-url"),
    cell(item.error, "c-error"),
    cell(item.server_response, "c-response"),
  );
}
