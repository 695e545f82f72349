// Numbers of the proxy-wasm ABI 0.2.1 as proxy-wasm-cpp-host defines them
// (include/proxy-wasm/wasm_api_impl.h, context_interface.h), and the small value types the
// emulator's public API shares.

export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;
export type WasmResultCode = (typeof WasmResult)[keyof typeof WasmResult];

const RESULT_NAMES = Object.keys(WasmResult);
export function wasmResultName(code: number): string {
  return RESULT_NAMES[code] ?? `Unknown(${code})`;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "critical"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export function logLevelNumber(level: LogLevelName): number {
  return LOG_LEVELS.indexOf(level);
}

export const HeaderMapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;
export const HEADER_MAP_TYPE_MAX = 7;

export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;
export const BUFFER_TYPE_MAX = 8;

export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3 } as const;
export const STREAM_TYPE_MAX = 3;

export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;
export type MetricKind = "counter" | "gauge" | "histogram";
export const METRIC_KINDS: readonly MetricKind[] = ["counter", "gauge", "histogram"];

/** Envoy's filter status names, indexed by value (Http::FilterHeadersStatus, ...). */
export const HEADERS_STATUS_NAMES = [
  "Continue", "StopIteration", "ContinueAndEndStream", "StopAllIterationAndBuffer", "StopAllIterationAndWatermark",
] as const;

export const DATA_STATUS_NAMES = [
  "Continue", "StopIterationAndBuffer", "StopIterationAndWatermark", "StopIterationNoBuffer",
] as const;

export const TRAILERS_STATUS_NAMES = ["Continue", "StopIteration"] as const;

/** A status as Envoy's filter manager sees it, or "NotCalled" when no filter callback ran. */
export type FilterStatusName =
  | (typeof HEADERS_STATUS_NAMES)[number]
  | (typeof DATA_STATUS_NAMES)[number]
  | (typeof TRAILERS_STATUS_NAMES)[number]
  | "NotCalled";

/** Header input: an object (an array value adds the name once per element) or ordered pairs. */
export type HeaderInit = Record<string, string | number | readonly string[]> | ReadonlyArray<readonly [string, string]>;
export type BodyInit = string | Uint8Array;
export type HeaderPairs = Array<[string, string]>;

/** A guest's bool result; undefined (the call trapped) reads as false, as a failed call's 0 would. */
export function truthy(result: number | undefined): boolean {
  return result !== undefined && result !== 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const EMPTY = new Uint8Array(0);

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return bytes.length === 0 ? "" : decoder.decode(bytes);
}

export function toBytes(body: BodyInit | undefined): Uint8Array {
  if (body === undefined) return EMPTY;
  return typeof body === "string" ? utf8(body) : body;
}

/** Header input as ordered pairs with lower-cased names, as Envoy stores them. */
export function headerPairs(init: HeaderInit | undefined): HeaderPairs {
  const out: HeaderPairs = [];
  if (init === undefined) return out;
  if (Array.isArray(init)) {
    for (const [name, value] of init as ReadonlyArray<readonly [string, string]>) out.push([name.toLowerCase(), String(value)]);
    return out;
  }
  for (const [name, value] of Object.entries(init as Record<string, string | number | readonly string[]>)) {
    if (Array.isArray(value)) for (const v of value) out.push([name.toLowerCase(), String(v)]);
    else out.push([name.toLowerCase(), String(value)]);
  }
  return out;
}

/** Pairs as an object for assertions; a repeated name keeps its values joined with ",". */
export function pairsToRecord(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of pairs) out[name] = name in out ? `${out[name]},${value}` : value;
  return out;
}
