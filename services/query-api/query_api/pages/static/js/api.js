// Calls to /api/v1 on this origin, with the bearer token the user gave (kept for this tab only).

const TOKEN_KEY = "postbacks.apiToken";

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function rememberToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent("tokenchange"));
}

export function authHeaders() {
  const token = currentToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** An answer other than 2xx: the API's {"error": {code, message, details}} when it sent one. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }

  get needsToken() {
    return this.status === 401 || this.status === 403;
  }
}

async function send(method, path, body, { headers: extra = {}, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders(), ...extra };
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (error) {
    // Stopped on purpose (a stream switched off): not the API's fault, nothing to report.
    if (signal && signal.aborted) throw error;
    throw new ApiError(0, "unreachable", `The Postbacks API did not answer (${error.message}); is the service running?`);
  }
}

/** The ApiError an answer other than 2xx stands for, with the API's own message when it sent one. */
async function errorOf(response) {
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  const error = data && data.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message, error.details);
  }
  return new ApiError(response.status, `http_${response.status}`, `HTTP ${response.status}: ${text.slice(0, 300)}`);
}

/** The parsed JSON answer (null for 204), or ApiError with the API's own message. */
export async function api(method, path, body) {
  const response = await send(method, path, body);
  if (response.status === 204) return null;
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** What the token in use may do, `{scopes, publisher_ids, offer_ids}` (null ids: not confined),
 * or null when the API does not say (no token yet where one is needed, an older server). */
export async function tokenGrant() {
  try {
    return await api("GET", "/api/v1/token");
  } catch {
    return null;
  }
}

/** The open answer of a text/event-stream route, its body still to be read; ApiError when the
 * API refuses. `lastEventId` resumes after a dropped connection; `signal` closes it. */
export async function openStream(path, lastEventId, signal) {
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await send("GET", path, undefined, { headers, signal });
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** Downloads `path` with the token as a file: only for when a plain link cannot send it. */
export async function downloadWithToken(path, fallbackName) {
  const response = await send("GET", path);
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
