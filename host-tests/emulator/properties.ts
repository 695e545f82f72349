// `proxy_get_property` with Envoy's lookup (source/extensions/common/wasm/context.cc getProperty
// and findValue, source/extensions/filters/common/expr/context.cc): the path's segments are joined
// by NUL bytes; the first names a top-level value, the rest index into it. Strings come back as
// UTF-8, integers and timestamps as 8 little-endian bytes.
//
// Envoy behaviour worth knowing, reproduced here:
// - `request.*` values that come from request headers (path, url_path, host, scheme, method,
//   headers, referer, useragent, id, query) are only found while the filter holds the request
//   headers: during `onRequestHeaders`, later only if it stopped them, and during `onLog`. Envoy
//   looks them up through the context's `request_headers_`, which it clears once the filter lets
//   the headers through. Elsewhere they are NotFound. Likewise `response.headers` / `trailers`.
// - `plugin_name`, `plugin_root_id` and `plugin_vm_id` (not `vm_id`) exist on every context.
// - Root contexts have no stream: `request`, `response`, `connection_id`, ... are NotFound.
// - A value a stream stored with `proxy_set_property` (Envoy keeps it in filter state as
//   `wasm.<path>`) is found again by the first path segment.
// Tests can add or override any path with Host.setProperty (exact path match, checked first).

import type { HeaderMap } from "./header-map";
import { WasmResult, utf8, type WasmResultCode } from "./types";

export interface StreamInfoView {
  /** Request headers the context can see right now (null when Envoy would not have them). */
  requestHeaders: HeaderMap | null;
  responseHeaders: HeaderMap | null;
  responseTrailers: HeaderMap | null;
  startTimeMs: number;
  durationMs: number | undefined;
  protocol: string;
  connectionId: number;
  responseCode: number | undefined;
  responseCodeDetails: string | undefined;
  bytesReceived: number;
  bytesSent: number;
}

export interface PropertyScope {
  pluginName: string | null;
  rootId: string;
  vmId: string;
  stream: StreamInfoView | null;
  filterState: ReadonlyMap<string, Uint8Array> | null;
  overrides: ReadonlyMap<string, Uint8Array>;
}

export interface PropertyResult {
  result: WasmResultCode;
  value?: Uint8Array;
}

const NOT_FOUND: PropertyResult = { result: WasmResult.NotFound };
const SOURCE = { address: "127.0.0.1:50000", port: 50000 };
const DESTINATION = { address: "127.0.0.1:10000", port: 10000 };

function str(value: string): PropertyResult {
  return { result: WasmResult.Ok, value: utf8(value) };
}

function int64(value: number | bigint): PropertyResult {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(value), true);
  return { result: WasmResult.Ok, value: out };
}

function optionalStr(value: string | undefined): PropertyResult {
  return value === undefined ? NOT_FOUND : str(value);
}

/** A header map as a CEL map: one header's first value, or (whole map) a serialization failure. */
function headerMapValue(map: HeaderMap | null, key: string | undefined, rest: number): PropertyResult {
  if (key === undefined) {
    // Envoy cannot list a header map's keys (HeadersWrapper::ListKeys), so the whole map does
    // not serialize.
    return map === null ? NOT_FOUND : { result: WasmResult.SerializationFailure };
  }
  if (rest > 0 || map === null) return NOT_FOUND;
  return optionalStr(map.get(key));
}

export function resolveProperty(scope: PropertyScope, rawPath: string): PropertyResult {
  const override = scope.overrides.get(rawPath);
  if (override !== undefined) return { result: WasmResult.Ok, value: override };
  const parts = rawPath.length === 0 ? [] : rawPath.split("\0");
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  if (parts.length === 0) return NOT_FOUND;
  const [top, sub, key] = parts;
  const rest = parts.length - 3;
  const s = scope.stream;
  switch (top) {
    case "plugin_name":
      return parts.length === 1 && scope.pluginName !== null ? str(scope.pluginName) : NOT_FOUND;
    case "plugin_root_id":
      return parts.length === 1 ? str(scope.rootId) : NOT_FOUND;
    case "plugin_vm_id":
      return parts.length === 1 ? str(scope.vmId) : NOT_FOUND;
    case "connection_id":
      return parts.length === 1 && s !== null ? int64(s.connectionId) : NOT_FOUND;
    case "request":
      return s === null ? NOT_FOUND : requestValue(s, sub, key, rest);
    case "response":
      return s === null ? NOT_FOUND : responseValue(s, sub, key, rest);
    case "source":
    case "destination": {
      if (s === null || parts.length !== 2) return NOT_FOUND;
      const peer = top === "source" ? SOURCE : DESTINATION;
      if (sub === "address") return str(peer.address);
      if (sub === "port") return int64(peer.port);
      return NOT_FOUND;
    }
    default: {
      const stored = scope.filterState?.get(top);
      return stored !== undefined && parts.length === 1 ? { result: WasmResult.Ok, value: stored } : NOT_FOUND;
    }
  }
}

function requestValue(s: StreamInfoView, sub: string | undefined, key: string | undefined, rest: number): PropertyResult {
  if (sub === undefined) return { result: WasmResult.SerializationFailure };
  if (sub === "headers") return headerMapValue(s.requestHeaders, key, rest);
  if (key !== undefined) return NOT_FOUND;
  switch (sub) {
    case "time":
      return int64(BigInt(Math.round(s.startTimeMs)) * 1_000_000n);
    case "protocol":
      return str(s.protocol);
    case "duration":
      return s.durationMs === undefined ? NOT_FOUND : int64(BigInt(Math.round(s.durationMs * 1_000_000)));
    case "size": {
      const cl = s.requestHeaders?.get("content-length");
      if (cl !== undefined) return /^\d+$/.test(cl) ? int64(BigInt(cl)) : NOT_FOUND;
      return int64(s.bytesReceived);
    }
    case "total_size":
      return int64(s.bytesReceived + (s.requestHeaders?.byteSize() ?? 0));
  }
  const h = s.requestHeaders;
  if (h === null) return NOT_FOUND;
  const path = h.get(":path");
  switch (sub) {
    case "path":
      return optionalStr(path);
    case "url_path":
      return path === undefined ? NOT_FOUND : str(path.split("?")[0]);
    case "query":
      return path === undefined ? NOT_FOUND : str(path.includes("?") ? path.slice(path.indexOf("?") + 1) : "");
    case "host":
      return optionalStr(h.get(":authority"));
    case "scheme":
      return optionalStr(h.get(":scheme"));
    case "method":
      return optionalStr(h.get(":method"));
    case "referer":
      return optionalStr(h.get("referer"));
    case "useragent":
      return optionalStr(h.get("user-agent"));
    case "id":
      return optionalStr(h.get("x-request-id"));
    default:
      return NOT_FOUND;
  }
}

function responseValue(s: StreamInfoView, sub: string | undefined, key: string | undefined, rest: number): PropertyResult {
  if (sub === undefined) return { result: WasmResult.SerializationFailure };
  if (sub === "headers") return headerMapValue(s.responseHeaders, key, rest);
  if (sub === "trailers") return headerMapValue(s.responseTrailers, key, rest);
  if (key !== undefined) return NOT_FOUND;
  switch (sub) {
    case "code":
      return s.responseCode === undefined ? NOT_FOUND : int64(s.responseCode);
    case "code_details":
      return optionalStr(s.responseCodeDetails);
    case "flags":
      return int64(0);
    case "size":
      return int64(s.bytesSent);
    case "total_size":
      return int64(s.bytesSent + (s.responseHeaders?.byteSize() ?? 0));
    default:
      return NOT_FOUND;
  }
}
