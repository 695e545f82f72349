// Error responses in OpenAI's shape, `{"error":{"message","type","param","code"}}`, sent by the
// filter with `content-type: application/json`. One table maps each error kind (metrics.ts
// ERR_*) to its HTTP status, type and code.

import { HeaderPair, sendLocalResponse } from "../../assembly/index";
import { JsonWriter } from "../../assembly/json/index";
import {
  ERR_BODY_TOO_LARGE, ERR_INTERNAL, ERR_INVALID_BODY, ERR_INVALID_MODEL, ERR_MODEL_MISSING,
  ERR_MODEL_NOT_FOUND, ERR_NO_READY_VERSION, ERR_VERSION_NOT_FOUND, ERROR_KINDS,
} from "./metrics";

/** Longest piece of client input quoted back in a message. */
const MAX_ECHO_CHARS = 128;

export function errorStatus(kind: i32): u32 {
  switch (kind) {
    case ERR_MODEL_NOT_FOUND: return 404;
    case ERR_VERSION_NOT_FOUND: return 404;
    case ERR_BODY_TOO_LARGE: return 413;
    case ERR_NO_READY_VERSION: return 503;
    case ERR_INTERNAL: return 500;
    default: return 400;
  }
}

function errorType(kind: i32): string {
  if (kind == ERR_NO_READY_VERSION || kind == ERR_INTERNAL) return "server_error";
  return "invalid_request_error";
}

function errorCode(kind: i32): string {
  switch (kind) {
    case ERR_MODEL_NOT_FOUND: return "model_not_found";
    case ERR_VERSION_NOT_FOUND: return "model_version_not_found";
    case ERR_MODEL_MISSING: return "model_required";
    case ERR_INVALID_MODEL: return "invalid_model";
    case ERR_INVALID_BODY: return "invalid_json";
    case ERR_BODY_TOO_LARGE: return "request_too_large";
    case ERR_NO_READY_VERSION: return "model_not_ready";
    default: return "internal_error";
  }
}

/** Whether the error concerns the `model` parameter. */
function aboutModel(kind: i32): bool {
  return kind == ERR_MODEL_NOT_FOUND || kind == ERR_VERSION_NOT_FOUND || kind == ERR_MODEL_MISSING ||
    kind == ERR_INVALID_MODEL || kind == ERR_NO_READY_VERSION;
}

/** The OpenAI error document for `kind`. */
export function errorBody(kind: i32, message: string): ArrayBuffer {
  const w = new JsonWriter(128 + message.length);
  w.beginObject().key("error").beginObject();
  w.stringField("message", message).stringField("type", errorType(kind));
  if (aboutModel(kind)) w.stringField("param", "model");
  else w.nullField("param");
  w.stringField("code", errorCode(kind));
  w.endObject().endObject();
  return w.toArrayBuffer();
}

/**
 * Answers the request with the error. `retryAfterS` > 0 adds `retry-after`. Response code
 * details (Envoy's %RESPONSE_CODE_DETAILS%) are `model_router.<kind>`: no spaces, as Envoy wants.
 */
export function sendError(kind: i32, message: string, retryAfterS: u32): void {
  const headers = [new HeaderPair("content-type", "application/json")];
  if (retryAfterS > 0) headers.push(new HeaderPair("retry-after", retryAfterS.toString()));
  const name = kind >= 0 && kind < ERROR_KINDS.length ? unchecked(ERROR_KINDS[kind]) : "internal";
  sendLocalResponse(errorStatus(kind), "model_router." + name, errorBody(kind, message), headers);
}

/** Client input quoted in a message, shortened (the writer escapes it). */
export function echo(text: string): string {
  return "'" + (text.length <= MAX_ECHO_CHARS ? text : text.substring(0, MAX_ECHO_CHARS) + "...") + "'";
}
