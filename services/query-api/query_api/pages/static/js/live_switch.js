// The Logs page's Live switch: while it is on, attempts matching the view's filters are handed
// to the page as they are logged (GET /api/v1/logs/stream, read by live.js), to go on top of
// the table. It says how the connection is doing, and when the server skipped some.

import { byId, fill, h } from "./dom.js";
import { followStream } from "./live.js";

export class LiveSwitch {
  /**
   * onAttempt(item): a new attempt, shaped as an item of GET /api/v1/logs;
   * onSwitch(on): the user switched it, or the API refused it (off); the page answers with
   *   follow(), its view's Live being part of the address;
   * onReload(): read the whole view again, after the server said it skipped attempts.
   */
  constructor({ onAttempt, onSwitch, onReload }) {
    this.onAttempt = onAttempt;
    this.onSwitch = onSwitch;
    this.onReload = onReload;
    this.toggle = byId("live-toggle");
    this.state = byId("live-state");
    this.notice = byId("live-notice");
    this.stop = null;
    this.toggle.addEventListener("change", () => onSwitch(this.toggle.checked));
  }

  /** Follows `query` (filters.liveQuery) while `on`, from scratch; null: the view cannot be
   * followed (it ends at a time), so the switch is off and says why. */
  follow(on, query) {
    this.close();
    this.toggle.disabled = query === null;
    this.toggle.checked = on && query !== null;
    if (query === null) fill(this.state, "Live is off while the view has an end time (To).");
    if (!this.toggle.checked) return;
    fill(this.state, "Connecting\u2026");
    this.stop = followStream(`/api/v1/logs/stream?${query}`, {
      onEvent: (event) => this.received(event),
      onState: (state, ms, notNow) => {
        const again = `trying again in ${Math.ceil(ms / 1000)} s\u2026`;
        // "Not now" (too many live pages, a server restarting) in the API's words.
        const lost = notNow ? `Live is waiting: ${notNow.message}; ${again}` : `Connection lost; ${again}`;
        fill(this.state, state === "open" ? "Live: new attempts appear at the top." : lost);
      },
      onRefused: (error) => {
        // A filter the API refuses, a token without the scope: the switch goes off rather
        // than asking again and again, and the API's words say why (here, not in the page's
        // alert, which the table's next answer clears).
        this.onSwitch(false);
        this.tell("error", `Live is off: ${error.message}`);
      },
    });
  }

  close() {
    if (this.stop) this.stop();
    this.stop = null;
    fill(this.state);
    this.notice.hidden = true;
  }

  received(event) {
    let data = null;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // neither an attempt nor a notice: nothing to show
    }
    if (event.type === "message") {
      if (data && typeof data.attempt_id === "string") this.onAttempt(data);
      return;
    }
    // The API's notices say what happened in their own words: `gap`, attempts it skipped for
    // this page (the table misses them, the log has them), and `warning`.
    const said = data && typeof data.message === "string" ? data.message : "";
    if (event.type === "gap") {
      this.tell(
        "info",
        `Live skipped some attempts${said ? ` (${said})` : ""}. `,
        h("button", { type: "button", id: "live-reload", onclick: () => this.reload() }, "Reload the view"),
        " to see all of them.",
      );
    } else if (event.type === "warning" && said) {
      this.tell("info", `Live: ${said}`);
    }
  }

  /** Shows the notice under the summary: a refusal ("error"), or what the API told ("info"). */
  tell(kind, ...parts) {
    this.notice.className = kind === "error" ? "notice" : "live-notice";
    this.notice.hidden = false;
    fill(this.notice, ...parts);
  }

  reload() {
    this.notice.hidden = true;
    this.onReload();
  }
}
