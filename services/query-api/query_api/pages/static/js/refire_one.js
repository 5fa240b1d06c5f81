// Re-fire one attempt from its detail: fire it again now, with its configuration as it is now,
// and show the new attempt as the log records it.

import { api } from "./api.js";
import { fill, h } from "./dom.js";

/** The Re-fire control of one attempt's detail; `open(id)` shows another attempt's detail. */
export function refireControl(record, open) {
  const result = h("span", { id: "detail-refire-result", role: "status", "aria-live": "polite" });
  const button = h("button", { type: "button", id: "detail-refire-button", class: "primary" }, "Re-fire");
  button.addEventListener("click", async () => {
    button.disabled = true;
    fill(result, "Re-firing\u2026");
    try {
      const path = `/api/v1/logs/${encodeURIComponent(record.attempt_id)}/refire?wait=true`;
      const attempt = await api("POST", path);
      const code = attempt.response_code ? ` (${attempt.response_code})` : "";
      fill(
        result,
        h("strong", { id: "detail-refire-status" }, `${attempt.status}${code}`),
        " \u2014 new attempt ",
        h("code", {}, attempt.attempt_id),
        " ",
        h("button", { type: "button", id: "detail-refire-open", onclick: () => open(attempt.attempt_id) }, "Show it"),
      );
    } catch (error) {
      fill(result, h("span", { class: "error-text", role: "alert" }, error.message));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "p",
    { class: "refire" },
    button,
    " ",
    h("span", { class: "hint" }, "Fires this input again now, with the postback's configuration as it is now."),
    " ",
    result,
  );
}
