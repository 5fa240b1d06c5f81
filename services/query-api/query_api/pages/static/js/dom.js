// Building elements. Every value goes in as a text node or an attribute value, never as HTML:
// the log holds what strangers' servers answered (XSS), so nothing in these pages parses HTML.

/** h("td", {class: "x"}, "text", child): an element with attributes and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `element`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page is missing #${id}`);
  return element;
}

/** Shows an error (or clears it with null) in the page's alert area; a token hint on 401/403. */
export function showError(error) {
  const area = byId("notice");
  if (!error) {
    fill(area);
    area.hidden = true;
    return;
  }
  area.hidden = false;
  const parts = [error.message];
  if (error.needsToken) parts.push(" Enter an API token with the right scope in \u201cAPI token\u201d at the top of the page.");
  fill(area, ...parts);
  if (error.needsToken) byId("api-token").focus();
}

/** "2026-11-28T01:02:03.456Z" -> "2026-11-28 01:02:03" (UTC, as the page says). */
export function shortTime(text) {
  return typeof text === "string" ? text.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "";
}

/** Opens a <dialog> modally and puts focus back where it was when it closes (Esc included). */
export function openDialog(dialog) {
  const opener = document.activeElement;
  dialog.addEventListener(
    "close",
    () => {
      if (opener && opener.isConnected) opener.focus();
    },
    { once: true },
  );
  dialog.showModal();
}
