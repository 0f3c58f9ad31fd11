// Talking to the smshook API: the token (sessionStorage), JSON calls and the live event stream.
// The token only ever travels in the Authorization header, never in a URL.

const KEY = "smshook.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const t = token.get();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

async function fail(res) {
  let message = `HTTP ${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) onUnauthorized(message);
  return new ApiError(res.status, message);
}

export async function api(path, { method = "GET", body, signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      signal,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `cannot reach smshook: ${err.message}`);
  }
  if (!res.ok) throw await fail(res);
  return res.status === 204 ? null : res.json();
}

// A file from the API (an export), with the token: a plain link could not send it. Saved through a
// temporary object URL.
export async function download(path, filename) {
  let res;
  try {
    res = await fetch(path, { headers: headers({ Accept: "*/*" }) });
  } catch (err) {
    throw new ApiError(0, `cannot reach smshook: ${err.message}`);
  }
  if (!res.ok) throw await fail(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// Server-sent events over fetch() (EventSource cannot send an Authorization header). Reconnects with
// Last-Event-ID after a drop, so nothing is missed. Returns a function that stops the stream.
export function stream(path, { onEvent, onState }) {
  const abort = new AbortController();
  let lastId = null;
  let retry = 2000;

  async function once() {
    const extra = { Accept: "text/event-stream" };
    if (lastId !== null) extra["Last-Event-ID"] = lastId;
    const res = await fetch(path, { headers: headers(extra), signal: abort.signal, cache: "no-store" });
    if (!res.ok) throw await fail(res);
    onState("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let data = null;
        let id = null;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue; // heartbeat comment
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") data = data === null ? val : `${data}\n${val}`;
          else if (field === "id") id = val;
          else if (field === "retry" && /^\d+$/.test(val)) retry = Number(val);
        }
        if (id !== null) lastId = id;
        if (data !== null) onEvent(JSON.parse(data));
      }
    }
  }

  (async () => {
    while (!abort.signal.aborted) {
      try {
        await once();
        if (!abort.signal.aborted) onState("reconnecting", "the stream ended");
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err.status === 401 || err.status === 400) {
          onState("error", err.message);
          return;
        }
        onState("reconnecting", err.message);
      }
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  })();
  return () => abort.abort();
}
