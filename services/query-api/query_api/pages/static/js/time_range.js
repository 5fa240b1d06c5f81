// The time range: from/to as RFC 3339 UTC in the address, edited as UTC date-times, with
// quick presets. No `from` means the API's default window (the last 24 hours unless changed).

import { byId, fill } from "./dom.js";

// "2026-11-28T03:04:05Z" -> "2026-11-28T03:04:05", what a datetime-local input holds.
function toInput(text) {
  const moment = new Date(text);
  return text && !Number.isNaN(moment.getTime()) ? moment.toISOString().slice(0, 19) : "";
}

function fromInput(value) {
  if (!value) return "";
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

function secondsAgo(seconds) {
  return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

export class TimeRange {
  /** onChange({from, to}) when the user applies a range or picks a preset. */
  constructor(onChange) {
    this.from = byId("range-from");
    this.to = byId("range-to");
    byId("range-form").addEventListener("submit", (event) => {
      event.preventDefault();
      onChange({ from: fromInput(this.from.value), to: fromInput(this.to.value) });
    });
    for (const preset of document.querySelectorAll("[data-hours]")) {
      preset.addEventListener("click", () => onChange({ from: secondsAgo(Number(preset.dataset.hours) * 3600), to: "" }));
    }
  }

  show(from, to) {
    this.from.value = toInput(from);
    this.to.value = toInput(to);
    const summary = byId("range-summary");
    if (!from && !to) fill(summary, "Time: the API's default window (the last 24 hours unless configured otherwise).");
    else fill(summary, `Time: from ${from ? from.replace("T", " ") : "the default window's start"} to ${to ? to.replace("T", " ") : "now"}.`);
  }
}
