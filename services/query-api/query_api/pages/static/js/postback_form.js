// The create / edit form: every field of a configuration (design section 4), and the API's
// 422 messages shown beside the field they name.

import { ApiError, api } from "./api.js";
import { byId, fill, h, openDialog } from "./dom.js";
import { confinementText } from "./token_bar.js";

// The optional numeric fields: their input, and left out of the payload when empty.
const NUMBERS = [
  ["timeout_ms", "pb-timeout"], ["connect_timeout_ms", "pb-connect-timeout"], ["delay_ms", "pb-delay"],
  ["retry_max_attempts", "pb-retry-attempts"], ["retry_initial_delay_ms", "pb-retry-initial"], ["retry_max_delay_ms", "pb-retry-max"],
];
// Where focus goes when the API names a field: every field of the form.
const FOCUS = {
  name: "pb-name", type: "pb-type", offer_id: "pb-offer", publisher_id: "pb-publisher",
  event_id: "pb-event", statuses: "pb-status-approved", method: "pb-method", url: "pb-url",
  body: "pb-body", content_type: "pb-content-type", headers: "add-header",
  enabled: "pb-enabled-box", ...Object.fromEntries(NUMBERS),
};
const FIELDS = Object.keys(FOCUS);
// The scope fields a token can be confined on: column -> [its free input, its choice of ids].
const SCOPE = { offer_id: ["pb-offer", "pb-offer-choice"], publisher_id: ["pb-publisher", "pb-publisher-choice"] };

// Digits go as a number (up to 15, exact in JavaScript); anything else as typed, so the
// API's own message says what is wrong with it.
function number(text, empty) {
  const value = text.trim();
  if (value === "") return empty;
  return /^\d{1,15}$/.test(value) ? Number(value) : value;
}

// The field an API detail is about. Checks that span fields come as "body" (the request
// body) with a message that starts with the field's name, e.g. "event_id is only allowed...".
function fieldOf(detail) {
  const message = detail.message || "";
  const named = FIELDS.find((f) => message.startsWith(`${f} `) || message.startsWith(`${f}:`));
  if (detail.field === "body" && named) return named;
  const first = String(detail.field || "").split(".")[0];
  return FIELDS.includes(first) ? first : named || null;
}

export class PostbackForm {
  /** onSaved(config) after a successful create or replace. */
  constructor(onSaved) {
    this.onSaved = onSaved;
    this.dialog = byId("editor");
    this.form = byId("postback-form");
    this.editingId = null;
    // Column -> the ids the token is confined to (token_bar.confinedColumns); {}: not confined.
    this.limits = {};
    this.labels = Object.fromEntries(Object.entries(SCOPE).map(([column, [input]]) => [column, this.form.querySelector(`label[for="${input}"]`)]));
    this.openHint = byId("hint-scope").textContent;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    byId("pb-type").addEventListener("change", () => this.showRelevant());
    byId("pb-method").addEventListener("change", () => this.showRelevant());
    byId("add-header").addEventListener("click", () => this.addHeader("", "", true));
    for (const id of ["editor-close", "editor-cancel"]) byId(id).addEventListener("click", () => this.dialog.close());
  }

  /** A confined token: a configuration it writes must name one of its publishers (and offers),
   * so those fields become a choice of exactly its ids, with no "any". One id is chosen
   * already; of several none is, so a forgotten choice is the API's 422, not a guess. */
  confine(limits) {
    this.limits = limits;
    for (const [column, [inputId, choiceId]] of Object.entries(SCOPE)) {
      const ids = limits[column];
      const choice = byId(choiceId);
      const prompt = ids && ids.length > 1 ? h("option", { value: "", disabled: true }, "Choose one") : null;
      fill(choice, prompt, (ids || []).map((id) => h("option", { value: id }, id)));
      choice.hidden = !ids;
      byId(inputId).hidden = Boolean(ids);
      this.labels[column].htmlFor = ids ? choiceId : inputId;
    }
    const text = confinementText(limits);
    fill(byId("hint-scope"), text ? `This token manages the postbacks of ${text} only.` : this.openHint);
  }

  // The element holding a field's value: for a scope field, its choice under a confined token.
  control(field) {
    const scope = SCOPE[field];
    return byId(scope ? scope[this.limits[field] ? 1 : 0] : FOCUS[field]);
  }

  open(config = null) {
    this.editingId = config ? config.id : null;
    // Sent back with the change: if someone saved the configuration since, the API answers 409.
    this.editingVersion = config ? config.version : null;
    fill(byId("editor-title"), config ? `Edit postback: ${config.name}` : "New postback");
    const c = config || { type: "Conversion", method: "GET", statuses: ["approved"], content_type: "json", enabled: true, headers: {} };
    byId("pb-name").value = c.name || "";
    byId("pb-type").value = c.type;
    for (const column of Object.keys(SCOPE)) {
      const ids = this.limits[column] || [];
      this.control(column).value = c[column] ?? (ids.length === 1 ? ids[0] : "");
    }
    byId("pb-event").value = c.event_id ?? "";
    for (const box of this.form.querySelectorAll("input[name=status]")) box.checked = c.statuses.includes(box.value);
    byId("pb-method").value = c.method;
    byId("pb-url").value = c.url || "";
    byId("pb-body").value = c.body ?? "";
    byId("pb-content-type").value = c.content_type;
    for (const [field, id] of NUMBERS) byId(id).value = c[field] ?? "";
    byId("pb-enabled-box").checked = c.enabled;
    fill(byId("header-rows"));
    for (const [name, value] of Object.entries(c.headers || {})) this.addHeader(name, value, false);
    this.clearErrors();
    this.showRelevant();
    openDialog(this.dialog);
    byId("pb-name").focus();
  }

  // Fields that do not apply to the chosen type or method are hidden and not sent.
  showRelevant() {
    const type = byId("pb-type").value;
    const method = byId("pb-method").value;
    for (const element of this.form.querySelectorAll("[data-for-types]")) element.hidden = !element.dataset.forTypes.split(" ").includes(type);
    for (const element of this.form.querySelectorAll("[data-for-methods]")) element.hidden = !element.dataset.forMethods.split(" ").includes(method);
  }

  addHeader(name, value, focus) {
    const n = byId("header-rows").children.length + 1;
    const nameInput = h("input", { class: "header-name", "aria-label": `Header ${n} name`, spellcheck: "false", value: name });
    const row = h(
      "li",
      {},
      nameInput,
      h("input", { class: "header-value", "aria-label": `Header ${n} value`, spellcheck: "false", value }),
      h("button", { type: "button", "aria-label": `Remove header ${n}`, onclick: () => row.remove() }, "Remove"),
    );
    byId("header-rows").append(row);
    if (focus) nameInput.focus();
  }

  payload() {
    const type = byId("pb-type").value;
    const method = byId("pb-method").value;
    const headers = {};
    for (const row of byId("header-rows").children) {
      const name = row.querySelector(".header-name").value.trim();
      if (name) headers[name] = row.querySelector(".header-value").value;
    }
    const payload = {
      name: byId("pb-name").value.trim(),
      type,
      offer_id: number(this.control("offer_id").value, null),
      publisher_id: number(this.control("publisher_id").value, null),
      method,
      url: byId("pb-url").value.trim(),
      headers,
      enabled: byId("pb-enabled-box").checked,
    };
    // Empty: left out, so the server's default applies.
    for (const [field, id] of NUMBERS) {
      const value = number(byId(id).value, undefined);
      if (value !== undefined) payload[field] = value;
    }
    if (type === "Event") payload.event_id = byId("pb-event").value.trim() || null;
    if (type !== "Click") payload.statuses = [...this.form.querySelectorAll("input[name=status]:checked")].map((b) => b.value);
    if (method === "POST") {
      payload.body = byId("pb-body").value === "" ? null : byId("pb-body").value;
      payload.content_type = byId("pb-content-type").value;
    }
    return payload;
  }

  async save() {
    this.clearErrors();
    const button = byId("editor-save");
    button.disabled = true;
    try {
      const payload = this.payload();
      const saved = this.editingId
        ? await api("PUT", `/api/v1/postbacks/${encodeURIComponent(this.editingId)}`, { ...payload, version: this.editingVersion })
        : await api("POST", "/api/v1/postbacks", payload);
      this.dialog.close();
      this.onSaved(saved);
    } catch (error) {
      this.showErrors(error);
    } finally {
      button.disabled = false;
    }
  }

  clearErrors() {
    for (const element of this.form.querySelectorAll(".field-error")) {
      element.hidden = true;
      fill(element);
    }
    for (const element of this.form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
    byId("form-error").hidden = true;
  }

  showErrors(error) {
    if (error instanceof ApiError && error.status === 409) {
      const area = byId("form-error");
      area.hidden = false;
      fill(area, "Someone saved this postback since you opened it, so your changes were not saved. Close the form, open the postback again to see what it is now, and make your change to that.");
      return;
    }
    const unplaced = [];
    let first = null;
    for (const detail of error instanceof ApiError ? error.details : []) {
      const field = fieldOf(detail);
      if (!field) {
        unplaced.push(detail.message);
        continue;
      }
      const slot = byId(`err-${field}`);
      slot.hidden = false;
      slot.append(slot.childNodes.length ? " " : "", String(detail.message).replace(new RegExp(`^${field}: `), ""));
      this.control(field).setAttribute("aria-invalid", "true");
      first = first || field;
    }
    if (unplaced.length || !first) {
      const area = byId("form-error");
      area.hidden = false;
      fill(area, unplaced.length ? unplaced.join("; ") : error.message);
    }
    if (first) this.control(first).focus();
  }
}
