// The "API token" field in the header: needed only when the server has POSTBACKS_API_TOKENS.
// The token stays in this tab's sessionStorage and goes out only as a bearer header.
// Once a token is in use (entered, or remembered from before a reload) the API is asked what
// it may do: a token confined to some publishers (or offers) shapes the pages, which say so.

import { currentToken, rememberToken, tokenGrant } from "./api.js";
import { byId, fill } from "./dom.js";

// The columns a token can be confined on, by the key GET /api/v1/token names them under.
const CONFINING = [
  ["publisher_ids", "publisher_id", "publisher"],
  ["offer_ids", "offer_id", "offer"],
];

/** Column -> the ids (as text, as the pages' fields hold them) a token is confined to, for
 * its confined columns only: {} for an open API, an unconfined token, or an unknown grant. */
export function confinedColumns(grant) {
  const limits = {};
  for (const [key, column] of CONFINING) {
    if (grant && Array.isArray(grant[key])) limits[column] = grant[key].map(String);
  }
  return limits;
}

/** "publishers 42, 43 and offer 7": what `limits` (confinedColumns) hold; "" when nothing. */
export function confinementText(limits) {
  return CONFINING.filter(([, column]) => limits[column])
    .map(([, column, noun]) => `${noun}${limits[column].length === 1 ? "" : "s"} ${limits[column].join(", ")}`)
    .join(" and ");
}

/** Wires the field; onLimits(confinedColumns(grant)) on load and after every token change. */
export function setUpTokenBar(onLimits = () => {}) {
  const form = byId("token-form");
  const input = byId("api-token");
  const state = byId("token-state");
  let asked = 0;
  const show = (limits) => {
    const confined = confinementText(limits);
    const inUse = confined ? `Token in use for this tab: ${confined} only.` : "Token in use for this tab.";
    fill(state, currentToken() ? inUse : "No token: fine when the API is open.");
  };
  // The answer for an older token is dropped: the user may change it before the API answers.
  const learn = async () => {
    const mine = ++asked;
    show({});
    const limits = confinedColumns(await tokenGrant());
    if (mine !== asked) return;
    show(limits);
    onLimits(limits);
  };
  input.value = currentToken();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rememberToken(input.value.trim());
  });
  byId("token-forget").addEventListener("click", () => {
    input.value = "";
    rememberToken("");
  });
  document.addEventListener("tokenchange", learn);
  learn();
}
