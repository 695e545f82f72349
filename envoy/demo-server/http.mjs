// HTTP plumbing shared by the protocol modules: bounded body reading, JSON parsing that never
// throws, response writers that tolerate a client that has gone away, and the error shapes of
// each protocol.

// Past the body limit we keep reading (and discarding) so the client can read our 413 instead of
// seeing a reset; past this many bytes we stop and close the connection.
const DRAIN_FACTOR = 4;
const MIN_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Reads a request body of at most `limit` bytes. Resolves (never rejects) to
 * {bytes} | {tooLarge: true, drained} | {aborted: true}.
 */
export function readBody(req, limit) {
  return new Promise((resolve) => {
    const drainCap = Math.max(limit * DRAIN_FACTOR, MIN_DRAIN_BYTES);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > drainCap) {
      resolve({ tooLarge: true, drained: false });
      return;
    }
    const chunks = [];
    let size = 0;
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      resolve(result);
    };
    req.on("data", (chunk) => {
      if (done) return;
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
      } else if (size > drainCap) {
        req.pause();
        finish({ tooLarge: true, drained: false });
      }
    });
    req.on("end", () => {
      finish(size > limit ? { tooLarge: true, drained: true } : { bytes: Buffer.concat(chunks, size) });
    });
    req.on("error", () => finish({ aborted: true }));
    req.on("close", () => finish({ aborted: true }));
  });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes UTF-8 and parses JSON without throwing: {ok: true, value} or {ok: false, reason} where
 * reason is "empty", "utf8" or "json". Deep nesting makes JSON.parse throw RangeError; that is a
 * "json" failure like any other.
 */
export function parseJsonBody(bytes) {
  if (bytes.length === 0) return { ok: false, reason: "empty" };
  let text;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { ok: false, reason: "utf8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "json" };
  }
}

/** A plain JSON object (not an array or null). */
export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Makes a string safe as a header value and unambiguous: visible ASCII other than "%" stays as it
 * is; every other UTF-8 byte becomes %XX. Node rejects some characters in header values, and
 * Envoy may fold others, so anything we echo goes through here.
 */
export function headerSafe(text) {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * The request target as received, made header-safe: Node hands it over as latin1 text, so any
 * character outside visible ASCII becomes %XX of that byte; existing %XX escapes stay as they are.
 */
export function headerSafePath(url) {
  return url.replace(/[^\x21-\x7e]/g, (c) => "%" + (c.charCodeAt(0) & 0xff).toString(16).toUpperCase().padStart(2, "0"));
}

/** JSON with every non-ASCII character escaped, so it is a valid header value. */
export function asciiJson(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** True when nothing more can be written to the response. */
export function gone(res) {
  return res.headersSent || res.destroyed || res.writableEnded;
}

/** Sends a JSON response with a content-length, unless the response is already under way. */
export function sendJson(res, status, body, headers = {}) {
  if (gone(res)) return;
  const bytes = Buffer.from(JSON.stringify(body), "utf8");
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", bytes.length);
  res.end(bytes);
}

/** The body llama-server sends from every endpoint while loading; also our "version not ready". */
export const LOADING_BODY = Object.freeze({ error: { message: "Loading model", type: "unavailable_error", code: 503 } });

/** OpenAI's error shape: {"error":{"message","type","param","code"}}. */
export function openaiError(message, type, code = null, param = null) {
  return { error: { message, type, param, code } };
}

/**
 * An error body in the shape of the protocol the route speaks: OpenAI's object, the KServe V2
 * `{"error": "..."}`, or TorchServe's `{"code","type","message"}`.
 */
export function protocolError(protocol, status, message, { type, code = null, param = null } = {}) {
  if (protocol === "v2") return { error: message };
  if (protocol === "torchserve") return { code: status, type: type ?? "ServiceError", message };
  return openaiError(message, type ?? (status >= 500 ? "server_error" : "invalid_request_error"), code, param);
}
