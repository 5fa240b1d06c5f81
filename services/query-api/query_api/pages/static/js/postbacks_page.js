// The Postbacks page: the configurations, with create / edit, enable / disable, delete
// (confirmed) and a test fire that shows the attempt it made.

import { ApiError, api } from "./api.js";
import { codeMeaning } from "./codes.js";
import { byId, fill, h, openDialog, showError } from "./dom.js";
import { statusBadge } from "./log_table.js";
import { PostbackForm } from "./postback_form.js";
import { confinementText, setUpTokenBar } from "./token_bar.js";

let configs = [];

const form = new PostbackForm((saved) => {
  say(`Saved \u201c${saved.name}\u201d (version ${saved.version}).`, saved);
  load();
});

/** The outcome of a change; with `config`, a link to watch its next attempts beside it. */
function say(text, config = null) {
  fill(byId("saved"), text);
  const watch = byId("saved-watch");
  watch.hidden = !config;
  if (config) watch.href = watchAddress(config);
}

// The Logs page following this postback's next attempts as they come (live=1 switches its
// Live on). By name, which is unique among configurations: the log filters postback_name.
function watchAddress(config) {
  return `/logs?${new URLSearchParams({ postback_name: config.name, live: "1" })}`;
}

function confine(limits) {
  form.confine(limits);
  const text = confinementText(limits);
  const note = byId("confinement");
  note.hidden = !text;
  fill(note, text && `This token manages the postbacks of ${text} only: it lists those, and a postback it creates names one of them.`);
}

function scope(config) {
  const offer = config.offer_id === null ? "any offer" : `offer ${config.offer_id}`;
  const publisher = config.publisher_id === null ? "any publisher" : `publisher ${config.publisher_id}`;
  const event = config.type === "Event" ? (config.event_id === null ? ", any event" : `, event ${config.event_id}`) : "";
  return `${offer}, ${publisher}${event}`;
}

function row(config) {
  const label = `\u201c${config.name}\u201d`;
  const toggle = h("input", {
    type: "checkbox",
    role: "switch",
    class: "enabled-toggle",
    "aria-label": `Enabled: ${config.name}`,
    checked: config.enabled,
    onchange: () => setEnabled(config, toggle),
  });
  return h(
    "tr",
    { "data-postback-id": config.id, class: config.enabled ? "" : "disabled-config" },
    h("td", { class: "c-name" }, config.name),
    h("td", {}, config.type),
    h("td", {}, scope(config)),
    h("td", {}, config.type === "Click" ? "\u2014" : config.statuses.join(", ")),
    h("td", {}, config.method),
    h("td", { class: "c-url", title: config.url }, config.url),
    h("td", {}, h("label", { class: "check" }, toggle, h("span", { "aria-hidden": "true" }, config.enabled ? " On" : " Off"))),
    h(
      "td",
      { class: "actions" },
      h("button", { type: "button", "aria-label": `Edit ${label}`, onclick: () => form.open(config) }, "Edit"),
      h("button", { type: "button", "aria-label": `Test ${label}`, onclick: () => testFire(config) }, "Test"),
      h("button", { type: "button", class: "danger", "aria-label": `Delete ${label}`, onclick: () => confirmDelete(config) }, "Delete"),
    ),
  );
}

async function load() {
  try {
    configs = (await api("GET", "/api/v1/postbacks")).items;
    showError(null);
  } catch (error) {
    configs = [];
    showError(error);
  }
  configs.sort((a, b) => a.name.localeCompare(b.name));
  fill(byId("postback-rows"), configs.map(row));
  byId("empty").hidden = configs.length > 0;
  openLinked();
}

// /postbacks?id=<uuid> (the log detail links here) opens that configuration once.
let linkedId = new URLSearchParams(location.search).get("id");
function openLinked() {
  if (!linkedId || !byId("notice").hidden) return;
  const config = configs.find((c) => c.id === linkedId);
  if (config) {
    form.open(config);
  } else {
    showError(new Error(`No postback configuration with id ${linkedId}: it was deleted, or the link is wrong.`));
  }
  linkedId = null;
}

async function setEnabled(config, toggle) {
  toggle.disabled = true;
  try {
    // Only `enabled` changes, and only if nobody saved the configuration since the list was read.
    const saved = await api("PATCH", `/api/v1/postbacks/${encodeURIComponent(config.id)}`, { enabled: toggle.checked, version: config.version });
    say(`\u201c${saved.name}\u201d is now ${saved.enabled ? "enabled" : "disabled"}.`);
    await load();
  } catch (error) {
    toggle.checked = !toggle.checked;
    toggle.disabled = false;
    if (error instanceof ApiError && error.status === 409) {
      await load();
      showError(new Error(`\u201c${config.name}\u201d was changed by someone else since the list was loaded; it now shows what it is. Switch it again if you still want to.`));
      return;
    }
    showError(error);
  }
}

function confirmDelete(config) {
  const dialog = byId("confirm-delete");
  fill(byId("confirm-text"), `Delete \u201c${config.name}\u201d? It stops firing at once; its past attempts stay in the log. This cannot be undone.`);
  byId("confirm-yes").onclick = async () => {
    dialog.close();
    try {
      await api("DELETE", `/api/v1/postbacks/${encodeURIComponent(config.id)}`);
      say(`Deleted \u201c${config.name}\u201d.`);
    } catch (error) {
      showError(error);
    }
    await load();
    byId("new-postback").focus();
  };
  byId("confirm-no").onclick = () => dialog.close();
  openDialog(dialog);
  byId("confirm-no").focus();
}

function entry(label, id, ...value) {
  return [h("dt", {}, label), h("dd", { id }, ...value)];
}

async function testFire(config) {
  const dialog = byId("test-result");
  const body = byId("test-body");
  fill(byId("test-title"), `Test fire: ${config.name}`);
  fill(body, h("p", {}, `Firing once, then waiting for the attempt to be logged (up to ${Math.round(config.timeout_ms / 1000) + 15} s)\u2026`));
  openDialog(dialog);
  try {
    const attempt = await api("POST", `/api/v1/postbacks/${encodeURIComponent(config.id)}/test`);
    const logLink = `/logs?transaction_id=${encodeURIComponent(attempt.transaction_id)}`;
    fill(
      body,
      h(
        "dl",
        { class: "detail" },
        entry("Status", "test-status", statusBadge(attempt.status)),
        entry("Response code", "test-code", h("strong", {}, String(attempt.response_code)), " \u2014 ", codeMeaning(attempt.response_code)),
        entry("Error", "test-error", attempt.error || "(none)"),
        entry("Server response", "test-response-cell", h("pre", { id: "test-response", class: "block" }, attempt.server_response || "(empty)")),
        entry("URL", "test-url", h("code", { class: "wrap" }, attempt.url)),
        entry("Transaction ID", "test-transaction", attempt.transaction_id, " \u00b7 ", h("a", { href: logLink }, "See it in the log")),
      ),
      h("p", {}, h("a", { id: "test-watch", href: watchAddress(config) }, "Watch its next attempts live")),
    );
  } catch (error) {
    fill(body, h("p", { class: "error-text", role: "alert" }, error.message));
  }
}

setUpTokenBar(confine);
byId("new-postback").addEventListener("click", () => form.open());
byId("test-close").addEventListener("click", () => byId("test-result").close());
document.addEventListener("tokenchange", load);
load();
