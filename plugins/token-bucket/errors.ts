// Error responses in OpenAI's shape, `{"error":{"message","type","param","code"}}`, with
// `content-type: application/json`. One table, ERRORS, says for each ErrorKind its label (the
// response code details `token_bucket.<name>`), HTTP status, OpenAI type and code; the stage, the
// README and the tests read it. OpenAI answers its own rate limits with type "requests" or
// "tokens" and code "rate_limit_exceeded"; so does this filter.

import { JsonWriter } from "../../assembly/json/index";

/** Everything the filter can answer with, in ERRORS order. */
export enum ErrorKind { RequestsLimited, TokensLimited, TooLarge, InvalidCount, Unavailable, RepeatedIdentity, BodyOnTunnel }

export class ErrorSpec {
  constructor(
    public readonly name: string,
    public readonly status: u32,
    public readonly type: string,
    public readonly code: string,
  ) {}
}

/** By ErrorKind. InvalidCount's code is the fault's (invalid_type, integer_below_min_value, integer_above_max_value). */
export const ERRORS: ErrorSpec[] = [
  new ErrorSpec("requests_limited", 429, "requests", "rate_limit_exceeded"),
  new ErrorSpec("tokens_limited", 429, "tokens", "rate_limit_exceeded"),
  new ErrorSpec("request_too_large", 429, "tokens", "rate_limit_exceeded"),
  new ErrorSpec("invalid_count", 400, "invalid_request_error", "invalid_type"),
  new ErrorSpec("unavailable", 503, "server_error", "rate_limit_unavailable"),
  new ErrorSpec("repeated_identity", 400, "invalid_request_error", "repeated_identity"),
  new ErrorSpec("body_on_tunnel", 400, "invalid_request_error", "body_on_tunnel"),
];

export function errorSpec(kind: ErrorKind): ErrorSpec {
  const i = <i32>kind;
  return unchecked(ERRORS[i >= 0 && i < ERRORS.length ? i : <i32>ErrorKind.Unavailable]);
}

/** The OpenAI error document; `param` "" writes null, `code` "" uses the table's. */
export function errorBody(kind: ErrorKind, message: string, param: string, code: string): ArrayBuffer {
  const spec = errorSpec(kind);
  const w = new JsonWriter(128 + message.length);
  w.beginObject().key("error").beginObject();
  w.stringField("message", message).stringField("type", spec.type);
  if (param.length > 0) w.stringField("param", param);
  else w.nullField("param");
  w.stringField("code", code.length > 0 ? code : spec.code);
  w.endObject().endObject();
  return w.toArrayBuffer();
}
