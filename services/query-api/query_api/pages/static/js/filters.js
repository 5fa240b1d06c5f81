// The page address is the filter: its query string is exactly the API's (c=V, c__is_not=V,
// c__contains=V, from, to), so a bookmarked or shared page asks the API the same question.

import { BY_KEY, OPERATORS } from "./columns.js";

// Paging belongs to the page, not to the view: /logs/count and the export refuse them.
const PAGING = new Set(["limit", "cursor"]);
// `live=1` in the address switches the page's Live on; it is the page's, never the API's.
const LIVE = "live";

/** The view in the address: {filters: [{column, operator, value}], from, to, other: [[k, v]],
 * live}. */
export function readView(search) {
  const view = { filters: [], from: "", to: "", other: [], live: false };
  for (const [key, value] of new URLSearchParams(search)) {
    if (PAGING.has(key)) continue;
    if (key === LIVE) {
      view.live = value === "1";
      continue;
    }
    if (key === "from" || key === "to") {
      view[key] = value;
      continue;
    }
    const filter = parseFilterKey(key, value);
    if (filter) view.filters.push(filter);
    // Kept so the API can say what is wrong with it, and the user can remove it.
    else view.other.push([key, value]);
  }
  return view;
}

function parseFilterKey(key, value) {
  for (const operator of [...OPERATORS].reverse()) {
    if (operator.suffix && !key.endsWith(operator.suffix)) continue;
    const column = operator.suffix ? key.slice(0, -operator.suffix.length) : key;
    if (BY_KEY.has(column)) return { column, operator: operator.key, value };
  }
  return null;
}

/** The API's query string of `view` (no leading "?"); the page's address adds only `live`. */
export function viewQuery(view) {
  const params = new URLSearchParams();
  for (const filter of view.filters) params.append(filterKey(filter), filter.value);
  for (const [key, value] of view.other) params.append(key, value);
  if (view.from) params.set("from", view.from);
  if (view.to) params.set("to", view.to);
  return params.toString();
}

/** The page's address for `view`: its query string, with `live=1` while Live is on. */
export function viewAddress(view) {
  const params = new URLSearchParams(viewQuery(view));
  if (view.live) params.set(LIVE, "1");
  const query = params.toString();
  return query ? `?${query}` : location.pathname;
}

/** What the live stream follows: the view's filters without the time range (whatever arrives
 * is new, so after any `from`), or null for a view that ends at a `to`: nothing new is in it. */
export function liveQuery(view) {
  return view.to ? null : viewQuery({ ...view, from: "", to: "" });
}

export function filterKey(filter) {
  const operator = OPERATORS.find((o) => o.key === filter.operator);
  return filter.column + operator.suffix;
}

/** "Status is Failed": how a chip reads. */
export function describeFilter(filter) {
  const column = BY_KEY.get(filter.column);
  const operator = OPERATORS.find((o) => o.key === filter.operator);
  return `${column.label} ${operator.label} ${filter.value === "" ? "(empty)" : filter.value}`;
}

export function sameFilter(a, b) {
  return a.column === b.column && a.operator === b.operator && a.value === b.value;
}
