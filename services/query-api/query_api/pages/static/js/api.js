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

async function send(method, path, body) {
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "unreachable", `The Postbacks API did not answer (${error.message}); is the service running?`);
  }
}

/** The parsed JSON answer (null for 204), or ApiError with the API's own message. */
export async function api(method, path, body) {
  const response = await send(method, path, body);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    if (error && typeof error.message === "string") {
      throw new ApiError(response.status, error.code, error.message, error.details);
    }
    throw new ApiError(response.status, `http_${response.status}`, `HTTP ${response.status}: ${text.slice(0, 300)}`);
  }
  return data;
}

/** Downloads `path` with the token as a file: only for when a plain link cannot send it. */
export async function downloadWithToken(path, fallbackName) {
  const response = await send("GET", path);
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error.message;
    } catch {
      // keep the status line
    }
    throw new ApiError(response.status, "download_failed", message);
  }
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
