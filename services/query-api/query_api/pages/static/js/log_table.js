// Rows of the log table: failed rows marked by a class, an icon and the word, not colour alone.

import { COLUMNS } from "./columns.js";
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

// A column's cells and heading share a class named after its key (and c-num for numbers).
function columnClass(column) {
  return column.numeric ? `c-${column.key} c-num` : `c-${column.key}`;
}

/** The table's heading row: the time, then the record's labelled, filterable columns. */
export function logHead() {
  return h(
    "tr",
    {},
    h("th", { scope: "col", class: "c-time" }, "Time (UTC)"),
    ...COLUMNS.map((column) => h("th", { scope: "col", class: columnClass(column) }, column.label)),
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
    ...COLUMNS.map((column) =>
      column.key === "status"
        ? h("td", { class: columnClass(column) }, statusBadge(item.status))
        : cell(item[column.key], columnClass(column)),
    ),
  );
}
