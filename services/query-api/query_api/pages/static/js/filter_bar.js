// The filter builder (column, condition, value; Enter applies) and the removable chips.
// A chip's text button puts that filter back in the builder to change it (say, "is" to
// "contains"); Apply then replaces it, Cancel or Esc leaves it as it was.
// Under a token confined to some publishers (or offers) the bar says so, and offers those
// columns only as a choice among its ids: the API keeps to them whatever is asked.

import { BY_KEY, COLUMNS, OPERATORS } from "./columns.js";
import { byId, fill, h } from "./dom.js";
import { describeFilter, sameFilter } from "./filters.js";
import { confinementText } from "./token_bar.js";

export class FilterBar {
  /** onChange(filters) is called with the new list whenever the user changes it. */
  constructor(onChange) {
    this.onChange = onChange;
    this.filters = [];
    this.editing = null;
    // Column -> the ids the token is confined to (token_bar.confinedColumns).
    this.limits = {};
    this.form = byId("filter-form");
    this.column = byId("filter-column");
    this.operator = byId("filter-operator");
    this.value = byId("filter-value");
    this.apply = byId("filter-apply");
    this.cancel = byId("filter-cancel");
    fill(this.column, COLUMNS.map((c) => h("option", { value: c.key }, c.label)));
    fill(this.operator, OPERATORS.map((o) => h("option", { value: o.key }, o.label)));
    this.column.addEventListener("change", () => this.suggest());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.cancel.addEventListener("click", () => this.stopEditing());
    this.value.addEventListener("input", () => this.value.setCustomValidity(""));
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.editing !== null) this.stopEditing();
    });
    this.suggest();
  }

  /** The token's confinement: a column of one id is not offered (nothing to narrow), one of
   * several takes "is" one of them; a note says what the token sees. */
  confine(limits) {
    this.limits = limits;
    const fixed = (key) => (limits[key] || []).length === 1;
    for (const option of this.column.options) option.disabled = option.hidden = fixed(option.value);
    if (fixed(this.column.value)) this.column.value = COLUMNS.find((c) => !fixed(c.key)).key;
    const text = confinementText(limits);
    const note = byId("confinement");
    note.hidden = !text;
    fill(note, text && `This token sees ${text} only; the log, its count and its export keep to them.`);
    this.suggest();
  }

  show(filters, other) {
    this.filters = filters;
    this.stopEditing(false);
    const chips = byId("chips");
    fill(
      chips,
      filters.map((filter, index) => this.chip(describeFilter(filter), () => this.edit(index), () => this.remove(index))),
      // Parameters the page does not know: shown so the API's complaint can be acted on.
      other.map(([key, value], index) => this.chip(`${key} = ${value}`, null, () => this.onChange(filters, other.filter((_, i) => i !== index)))),
    );
  }

  chip(text, onEdit, onRemove) {
    return h(
      "li",
      { class: "chip" },
      onEdit ? h("button", { type: "button", class: "chip-text", "aria-label": `Change filter: ${text}`, onclick: onEdit }, text) : h("span", { class: "chip-text" }, text),
      h("button", { type: "button", class: "chip-remove", "aria-label": `Remove filter: ${text}`, onclick: onRemove }, "\u2715"),
    );
  }

  suggest() {
    const column = BY_KEY.get(this.column.value);
    const allowed = this.limits[column.key];
    for (const option of this.operator.options) option.disabled = Boolean(allowed) && option.value !== "is";
    if (allowed) this.operator.value = "is";
    fill(byId("filter-values"), (allowed || column.values || []).map((v) => h("option", { value: v })));
    this.value.inputMode = column.numeric ? "numeric" : "text";
    this.value.setCustomValidity("");
  }

  submit() {
    const filter = { column: this.column.value, operator: this.operator.value, value: this.value.value.trim() };
    const allowed = this.limits[filter.column];
    if (allowed && !allowed.includes(filter.value)) {
      this.value.setCustomValidity(`This token sees ${confinementText({ [filter.column]: allowed })} only: choose one of them.`);
      this.value.reportValidity();
      return;
    }
    const filters = [...this.filters];
    if (this.editing !== null) filters.splice(this.editing, 1, filter);
    else if (!filters.some((f) => sameFilter(f, filter))) filters.push(filter);
    this.value.value = "";
    this.onChange(filters);
  }

  edit(index) {
    const filter = this.filters[index];
    this.editing = index;
    this.column.value = filter.column;
    this.operator.value = filter.operator;
    this.value.value = filter.value;
    this.suggest();
    fill(this.apply, "Apply change");
    this.cancel.hidden = false;
    for (const chip of byId("chips").children) chip.classList.remove("editing");
    byId("chips").children[index].classList.add("editing");
    this.operator.focus();
  }

  stopEditing(focus = true) {
    const wasEditing = this.editing !== null;
    this.editing = null;
    fill(this.apply, "Add filter");
    this.cancel.hidden = true;
    for (const chip of byId("chips").children) chip.classList.remove("editing");
    if (wasEditing && focus) {
      this.value.value = "";
      this.column.focus();
    }
  }

  remove(index) {
    this.onChange(this.filters.filter((_, i) => i !== index));
  }
}
