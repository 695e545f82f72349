// Error responses in OpenAI's shape, `{"error":{"message","type","param","code"}}`, sent by the
// filter with `content-type: application/json`. One table, ERRORS, says for each ErrorKind its
// metric label, HTTP status, OpenAI type and code, and whether it concerns the `model` parameter;
// the code, the README and the tests read it.

import { HeaderPair, sendLocalResponse } from "../../assembly/index";
import { shortened } from "../../assembly/runtime/text";
import { E_DEPTH, E_RANGE, E_SIZE, E_SURROGATE, E_VALUES, JsonWriter } from "../../assembly/json/index";

/** Everything the router can answer with an error, in ERRORS order. */
export enum ErrorKind {
  ModelNotFound, VersionNotFound, ModelMissing, InvalidModel, InvalidBody, BodyTooLarge, NoReadyVersion, Internal,
  MethodNotAllowed,
}

export class ErrorSpec {
  constructor(
    /** `kind` label of model_router.errors and suffix of the response code details. */
    public readonly name: string,
    public readonly status: u32,
    public readonly type: string,
    public readonly code: string,
    /** `param` is "model" (else null). */
    public readonly aboutModel: bool,
  ) {}
}

const INVALID = "invalid_request_error";
const SERVER = "server_error";

/** By ErrorKind. */
export const ERRORS: ErrorSpec[] = [
  new ErrorSpec("model_not_found", 404, INVALID, "model_not_found", true),
  new ErrorSpec("version_not_found", 404, INVALID, "model_version_not_found", true),
  new ErrorSpec("model_missing", 400, INVALID, "model_required", true),
  new ErrorSpec("invalid_model", 400, INVALID, "invalid_model", true),
  new ErrorSpec("invalid_body", 400, INVALID, "invalid_json", false),
  new ErrorSpec("body_too_large", 413, INVALID, "request_too_large", false),
  new ErrorSpec("no_ready_version", 503, SERVER, "model_not_ready", true),
  new ErrorSpec("internal", 500, SERVER, "internal_error", false),
  new ErrorSpec("method_not_allowed", 405, INVALID, "method_not_allowed", false),
];

/** Longest piece of client input quoted back in a message. */
const MAX_ECHO_CHARS = 128;

export function errorSpec(kind: ErrorKind): ErrorSpec {
  const i = <i32>kind;
  return unchecked(ERRORS[i >= 0 && i < ERRORS.length ? i : <i32>ErrorKind.Internal]);
}

/** The OpenAI error document for `kind`. */
export function errorBody(kind: ErrorKind, message: string): ArrayBuffer {
  const spec = errorSpec(kind);
  const w = new JsonWriter(128 + message.length);
  w.beginObject().key("error").beginObject();
  w.stringField("message", message).stringField("type", spec.type);
  if (spec.aboutModel) w.stringField("param", "model");
  else w.nullField("param");
  w.stringField("code", spec.code);
  w.endObject().endObject();
  return w.toArrayBuffer();
}

/**
 * Answers the request with the error. `retryAfterS` > 0 adds `retry-after`. Response code
 * details (Envoy's %RESPONSE_CODE_DETAILS%) are `model_router.<name>`: no spaces, as Envoy wants.
 */
export function sendError(kind: ErrorKind, message: string, retryAfterS: u32): void {
  const spec = errorSpec(kind);
  const headers = [new HeaderPair("content-type", "application/json")];
  if (retryAfterS > 0) headers.push(new HeaderPair("retry-after", retryAfterS.toString()));
  // RFC 9110: a 405 names the methods the resource answers (the model list's).
  if (kind == ErrorKind.MethodNotAllowed) headers.push(new HeaderPair("allow", "GET, HEAD"));
  sendLocalResponse(spec.status, "model_router." + spec.name, errorBody(kind, message), headers);
}

/**
 * The message for a body the JSON reader refused with `error` at byte `offset`. Nesting, size and
 * value counts over this gateway's limits, numbers beyond a double and lone surrogate escapes are
 * grammatical JSON that the gateway does not accept: saying "not valid JSON" would send the
 * client looking for a syntax error that is not there.
 */
export function bodyErrorMessage(error: string, offset: i32): string {
  const at = " at byte " + offset.toString();
  if (error == E_DEPTH || error == E_SIZE || error == E_VALUES) return "The request body exceeds this gateway's JSON limits: " + error + at;
  if (error == E_RANGE || error == E_SURROGATE) return "The request body is JSON this gateway does not accept: " + error + at;
  return "The request body is not valid JSON: " + error + at;
}

/** Client input quoted in a message, shortened (the writer escapes it). */
export function echo(text: string): string {
  return "'" + shortened(text, MAX_ECHO_CHARS) + "'";
}
