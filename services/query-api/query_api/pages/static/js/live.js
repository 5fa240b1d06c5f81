// Server-sent events read with fetch(): EventSource cannot send the bearer token, so the
// text/event-stream format (HTML standard, "server-sent events") is parsed here, and a dropped
// connection is opened again with Last-Event-ID after a growing delay, as EventSource would.

import { ApiError, openStream } from "./api.js";

const FIRST_RETRY_MS = 1000;
const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;
// A connection that stayed up this long was healthy, events or not (a confined token's stream
// ends every few minutes by design, to pick up its confinement as it is then).
const HEALTHY_MS = 10_000;
// Answers that say "not now" (a server stopping, too many live clients, a proxy's gateway
// errors): tried again later. Any other refusal (a bad filter, a token) would not change.
const TRANSIENT = new Set([429, 502, 503, 504]);

/** Turns the text of a stream, in chunks as they come, into events. */
export class EventStreamParser {
  constructor(lastEventId = "") {
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.lastEventId = lastEventId;
    // The id: of the event being read, kept apart until the event is whole (HTML standard's
    // "last event ID buffer"): a resume must not skip an event cut off half-way.
    this.idBuffer = lastEventId;
    this.retry = null;
    this.events = 0;
  }

  /** The events `chunk` completes: [{type, data, id}]; comments (heartbeats) yield none. */
  push(chunk) {
    this.buffer += chunk;
    const events = [];
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    for (let end = ends.exec(this.buffer); end; end = ends.exec(this.buffer)) {
      // A CR that ends the chunk may be the first half of a CRLF: wait for the next one.
      if (end[0] === "\r" && end.index === this.buffer.length - 1) break;
      const event = this.line(this.buffer.slice(start, end.index));
      if (event) events.push(event);
      start = ends.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  line(text) {
    if (text === "") return this.dispatch();
    if (text.startsWith(":")) return null;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.idBuffer = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }

  // A blank line ends an event; one without data is no event (its id still counts).
  dispatch() {
    this.lastEventId = this.idBuffer;
    const event = this.data.length ? { type: this.type || "message", data: this.data.join("\n"), id: this.lastEventId } : null;
    if (event) this.events += 1;
    this.data = [];
    this.type = "";
    return event;
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Follows the stream at `path` until the returned function is called:
 * - onEvent({type, data, id}) for each event;
 * - onState("open") once connected, onState("retrying", ms, error) when the connection dropped
 *   (or the API said "not now": `error`, an ApiError) and is opened again in ms (the server's
 *   `retry:` is the first wait, doubled each time up to 30 s);
 * - onRefused(ApiError) when the API refuses for good (a 400 for a bad filter, 401/403):
 *   following stops, since asking again would not help. A 429/502/503/504 (too many live
 *   clients, a server stopping) is tried again like a dropped connection.
 */
export function followStream(path, { onEvent, onState, onRefused }) {
  const controller = new AbortController();
  const { signal } = controller;
  (async () => {
    let lastEventId = "";
    let firstWait = FIRST_RETRY_MS;
    let wait = firstWait;
    while (!signal.aborted) {
      const parser = new EventStreamParser(lastEventId);
      let notNow = null;
      const openedAt = Date.now();
      try {
        const response = await openStream(path, lastEventId, signal);
        onState("open");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          for (const event of parser.push(read.value)) onEvent(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status !== 0 && !TRANSIENT.has(error.status)) {
          onRefused(error);
          return;
        }
        if (error instanceof ApiError && error.status !== 0) notNow = error;
        // Otherwise the connection failed or dropped: opened again below.
      }
      lastEventId = parser.lastEventId;
      // The server's `retry:`, though never so short that a failing server is hammered.
      if (parser.retry !== null) firstWait = Math.max(parser.retry, MIN_RETRY_MS);
      // A connection that carried an event was healthy: start over. Not the opening lines
      // alone: a server (or proxy) that answers and then drops at once is waited on longer.
      if (parser.events > 0 || Date.now() - openedAt > HEALTHY_MS) wait = firstWait;
      if (signal.aborted) return;
      onState("retrying", wait, notNow);
      await pause(wait, signal);
      wait = Math.min(wait * 2, MAX_RETRY_MS);
    }
  })();
  return () => controller.abort();
}
