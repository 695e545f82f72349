// The entry points Envoy calls (proxy-wasm ABI 0.2.1). Each plugin entry file re-exports this
// module. Dispatch never traps: a callback for a context the module does not know (which Envoy
// should never send) is answered with "continue" and a log line.

import { BufferType, FilterDataStatus, FilterHeadersStatus, FilterMetadataStatus, FilterTrailersStatus } from "./types";
import { proxy_set_effective_context } from "./imports";
import { HttpContext } from "../context/http-context";
import { RootContext } from "../context/root-context";
import { setActiveContext } from "../context/active";
import { createRootContext } from "../context/registry";
import { getBuffer } from "../host/buffers";
import { dropPendingCalls, HttpCallResponse, takePendingCall } from "../host/http-call";
import { logDebug, logError, refreshLogLevel } from "../host/log";
import { getPropertyString } from "../host/properties";
import { hostMalloc } from "../runtime/memory";
// Compiled for asconfig's `use abort=...`, which replaces the import of `env.abort`.
import "../runtime/abort";

const roots = new Map<u32, RootContext>();
const streams = new Map<u32, HttpContext>();

// Stands in for an unknown context so that every callback has something to call.
const ORPHAN_ROOT = new RootContext(0, "");
const ORPHAN_STREAM = new HttpContext(0);

function stream(id: u32): HttpContext {
  setActiveContext(id);
  if (streams.has(id)) return streams.get(id);
  logError("ai-gateway-wasm: callback for unknown stream context " + id.toString());
  return ORPHAN_STREAM;
}

function root(id: u32): RootContext | null {
  setActiveContext(id);
  if (roots.has(id)) return roots.get(id);
  logError("ai-gateway-wasm: callback for unknown root context " + id.toString());
  return null;
}

export function proxy_abi_version_0_2_1(): void {}

export function malloc(size: usize): usize {
  return hostMalloc(size);
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  setActiveContext(contextId);
  refreshLogLevel();
  if (parentContextId == 0) {
    const rootId = getPropertyString(["plugin_root_id"]);
    roots.set(contextId, createRootContext(contextId, rootId === null ? "" : rootId));
    return;
  }
  const parent = roots.has(parentContextId) ? roots.get(parentContextId) : ORPHAN_ROOT;
  streams.set(contextId, parent.newHttpContext(contextId));
}

export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): bool {
  const r = root(rootContextId);
  if (r === null) return false;
  const config = getBuffer(BufferType.VmConfiguration, 0, vmConfigurationSize);
  return r.onVmStart(config === null ? new ArrayBuffer(0) : config);
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): bool {
  const r = root(rootContextId);
  if (r === null) return false;
  const config = getBuffer(BufferType.PluginConfiguration, 0, pluginConfigurationSize);
  return r.onConfigure(config === null ? new ArrayBuffer(0) : config);
}

export function proxy_on_tick(rootContextId: u32): void {
  // Root-only work never creates a context, so the level is re-read here too.
  refreshLogLevel();
  const r = root(rootContextId);
  if (r !== null) r.onTick();
}

export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void {
  refreshLogLevel();
  const r = root(rootContextId);
  if (r !== null) r.onQueueReady(queueId);
}

export function proxy_on_foreign_function(rootContextId: u32, functionId: u32, dataSize: u32): void {
  const r = root(rootContextId);
  if (r !== null) r.onForeignFunction(functionId, dataSize);
}

export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
  return stream(contextId).onRequestHeaders(numHeaders, endOfStream);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): FilterDataStatus {
  return stream(contextId).onRequestBody(bodySize, endOfStream);
}

export function proxy_on_request_trailers(contextId: u32, numTrailers: u32): FilterTrailersStatus {
  return stream(contextId).onRequestTrailers(numTrailers);
}

export function proxy_on_request_metadata(contextId: u32, numElements: u32): FilterMetadataStatus {
  return FilterMetadataStatus.Continue;
}

export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
  return stream(contextId).onResponseHeaders(numHeaders, endOfStream);
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: bool): FilterDataStatus {
  return stream(contextId).onResponseBody(bodySize, endOfStream);
}

export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): FilterTrailersStatus {
  return stream(contextId).onResponseTrailers(numTrailers);
}

export function proxy_on_response_metadata(contextId: u32, numElements: u32): FilterMetadataStatus {
  return FilterMetadataStatus.Continue;
}

export function proxy_on_log(contextId: u32): void {
  setActiveContext(contextId);
  if (streams.has(contextId)) streams.get(contextId).onLog();
}

/** Streams: always done. Roots: false postpones teardown until the root calls `done()`. */
export function proxy_on_done(contextId: u32): bool {
  setActiveContext(contextId);
  if (streams.has(contextId)) {
    streams.get(contextId).onDone();
    return true;
  }
  if (roots.has(contextId)) return roots.get(contextId).onDone();
  return true;
}

export function proxy_on_delete(contextId: u32): void {
  setActiveContext(contextId);
  dropPendingCalls(contextId);
  if (streams.has(contextId)) {
    streams.get(contextId).onDelete();
    streams.delete(contextId);
  } else if (roots.has(contextId)) {
    roots.get(contextId).onDelete();
    roots.delete(contextId);
  }
}

export function proxy_on_http_call_response(contextId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  const call = takePendingCall(token);
  if (call === null) {
    logDebug("ai-gateway-wasm: response for unknown http_call token " + token.toString());
    return;
  }
  setActiveContext(call.contextId);
  if (call.contextId != contextId) proxy_set_effective_context(call.contextId);
  call.handler.onHttpCallResponse(new HttpCallResponse(token, numHeaders, bodySize, numTrailers));
}

// The layer makes no gRPC calls, so Envoy never calls these; they exist so that a module built
// from it exports the whole HTTP-filter surface.
export function proxy_on_grpc_receive_initial_metadata(contextId: u32, token: u32, numHeaders: u32): void {}
export function proxy_on_grpc_receive_trailing_metadata(contextId: u32, token: u32, numTrailers: u32): void {}
export function proxy_on_grpc_receive(contextId: u32, token: u32, responseSize: u32): void {}
export function proxy_on_grpc_close(contextId: u32, token: u32, statusCode: u32): void {}
