// The "API token" field in the header: needed only when the server has POSTBACKS_API_TOKENS.
// The token stays in this tab's sessionStorage and goes out only as a bearer header.

import { currentToken, rememberToken } from "./api.js";
import { byId, fill } from "./dom.js";

export function setUpTokenBar() {
  const form = byId("token-form");
  const input = byId("api-token");
  const state = byId("token-state");
  const show = () => fill(state, currentToken() ? "Token in use for this tab." : "No token: fine when the API is open.");
  input.value = currentToken();
  show();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rememberToken(input.value.trim());
    show();
  });
  byId("token-forget").addEventListener("click", () => {
    input.value = "";
    rememberToken("");
    show();
  });
}
