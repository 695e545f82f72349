// The entry points Envoy calls (proxy-wasm ABI 0.2.1). Each plugin entry file re-exports this
// module. Dispatch never traps: a callback for a context the module does not know (which Envoy
// should never send) is answered with "continue" and a log line.

import { BufferType, FilterDataStatus, FilterHeadersStatus, FilterMetadataStatus, FilterTrailersStatus } from "./types";
import { proxy_set_effective_context } from "./imports";
import { HttpContext } from "../context/http-context";
import { RootContext } from "../context/root-context";
import { setActiveContext } from "../context/active";
import { createRootContext } from "../context/registry";
import { IdTable } from "../context/id-table";
import { getBuffer } from "../host/buffers";
import { dropPendingCalls, HttpCallResponse, takePendingCall } from "../host/http-call";
import { logDebug, logError, refreshLogLevel } from "../host/log";
import { getPropertyString } from "../host/properties";
import { forgetNow } from "../host/time";
import { collectAfterCall, collectAfterDelete } from "../runtime/collect";
import { hostMalloc } from "../runtime/memory";
// Compiled for asconfig's `use abort=...`, which replaces the import of `env.abort`.
import "../runtime/abort";

const roots = new Map<u32, RootContext>();
const streams = new IdTable<HttpContext>();

// Stands in for an unknown context so that every callback has something to call.
const ORPHAN_ROOT = new RootContext(0, "");
const ORPHAN_STREAM = new HttpContext(0);

// A stream's callbacks come one after another, so the last one looked up is usually the next.
let lastStreamId: u32 = 0;
let lastStream: HttpContext = ORPHAN_STREAM;

// The parent of the last stream created, for the next.
let lastRootId: u32 = 0;
let lastRoot: RootContext = ORPHAN_ROOT;

/** Streams between two re-reads of the host's log level (also re-read at roots, ticks, queues). */
const LOG_LEVEL_EVERY: u32 = 64;
let streamsSinceLevel: u32 = 0;

/** Every callback starts here: the context it is for becomes the active one, and the clock is read afresh. */
function enter(id: u32): void {
  setActiveContext(id);
  forgetNow();
}

function stream(id: u32): HttpContext {
  enter(id);
  if (id == lastStreamId) return lastStream;
  const s = streams.get(id);
  if (s !== null) {
    lastStreamId = id;
    lastStream = s;
    return s;
  }
  logError("ai-gateway-wasm: callback for unknown stream context " + id.toString());
  return ORPHAN_STREAM;
}

/** Stream `id`'s context, or null for a root or an unknown id (callbacks both kinds get). */
function knownStream(id: u32): HttpContext | null {
  if (id == lastStreamId && id != 0) return lastStream;
  return streams.get(id);
}

function root(id: u32): RootContext | null {
  enter(id);
  if (roots.has(id)) return roots.get(id);
  logError("ai-gateway-wasm: callback for unknown root context " + id.toString());
  return null;
}

export function proxy_abi_version_0_2_1(): void {}

export function malloc(size: usize): usize {
  return hostMalloc(size);
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  enter(contextId);
  if (parentContextId == 0) {
    refreshLogLevel();
    const rootId = getPropertyString(["plugin_root_id"]);
    roots.set(contextId, createRootContext(contextId, rootId === null ? "" : rootId));
    // A stream that came before its root (Envoy never sends one) kept the orphan for this id.
    if (contextId == lastRootId) {
      lastRootId = 0;
      lastRoot = ORPHAN_ROOT;
    }
    return;
  }
  // One host call per stream would be most of what an idle filter costs; a level change made in
  // Envoy's admin is seen within LOG_LEVEL_EVERY streams or at the next tick.
  if (++streamsSinceLevel >= LOG_LEVEL_EVERY) {
    streamsSinceLevel = 0;
    refreshLogLevel();
  }
  // A worker's streams nearly all have one parent: its root is kept rather than looked up twice.
  let parent = lastRoot;
  if (parentContextId != lastRootId) {
    parent = roots.has(parentContextId) ? roots.get(parentContextId) : ORPHAN_ROOT;
    lastRootId = parentContextId;
    lastRoot = parent;
  }
  const s = parent.newHttpContext(contextId);
  streams.set(contextId, s);
  lastStreamId = contextId;
  lastStream = s;
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
  collectAfterCall();
}

export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void {
  refreshLogLevel();
  const r = root(rootContextId);
  if (r !== null) r.onQueueReady(queueId);
  collectAfterCall();
}

export function proxy_on_foreign_function(rootContextId: u32, functionId: u32, dataSize: u32): void {
  const r = root(rootContextId);
  if (r !== null) r.onForeignFunction(functionId, dataSize);
}

export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
  return stream(contextId).onRequestHeaders(numHeaders, endOfStream);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): FilterDataStatus {
  const status = stream(contextId).onRequestBody(bodySize, endOfStream);
  // A long body (a streamed response) may run many callbacks before its stream is deleted.
  collectAfterCall();
  return status;
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
  const status = stream(contextId).onResponseBody(bodySize, endOfStream);
  // A long body (a streamed response) may run many callbacks before its stream is deleted.
  collectAfterCall();
  return status;
}

export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): FilterTrailersStatus {
  return stream(contextId).onResponseTrailers(numTrailers);
}

export function proxy_on_response_metadata(contextId: u32, numElements: u32): FilterMetadataStatus {
  return FilterMetadataStatus.Continue;
}

export function proxy_on_log(contextId: u32): void {
  enter(contextId);
  const s = knownStream(contextId);
  if (s !== null) s.onLog();
}

/** Streams: always done. Roots: false postpones teardown until the root calls `done()`. */
export function proxy_on_done(contextId: u32): bool {
  enter(contextId);
  const s = knownStream(contextId);
  if (s !== null) {
    s.onDone();
    return true;
  }
  if (roots.has(contextId)) return roots.get(contextId).onDone();
  return true;
}

function isLiveRoot(id: u32): bool {
  return roots.has(id);
}

export function proxy_on_delete(contextId: u32): void {
  enter(contextId);
  dropPendingCalls(contextId, isLiveRoot);
  const s = knownStream(contextId);
  if (contextId == lastStreamId) {
    lastStreamId = 0;
    lastStream = ORPHAN_STREAM;
  }
  if (s !== null) {
    s.onDelete();
    streams.delete(contextId);
  } else if (roots.has(contextId)) {
    roots.get(contextId).onDelete();
    roots.delete(contextId);
    if (contextId == lastRootId) {
      lastRootId = 0;
      lastRoot = ORPHAN_ROOT;
    }
  }
  collectAfterDelete();
}

export function proxy_on_http_call_response(contextId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  const call = takePendingCall(token);
  if (call === null) {
    logDebug("ai-gateway-wasm: response for unknown http_call token " + token.toString());
    return;
  }
  enter(call.contextId);
  if (call.contextId != contextId) proxy_set_effective_context(call.contextId);
  call.handler.onHttpCallResponse(new HttpCallResponse(token, numHeaders, bodySize, numTrailers));
  collectAfterCall();
}

// The layer makes no gRPC calls, so Envoy never calls these; they exist so that a module built
// from it exports the whole HTTP-filter surface.
export function proxy_on_grpc_receive_initial_metadata(contextId: u32, token: u32, numHeaders: u32): void {}
export function proxy_on_grpc_receive_trailing_metadata(contextId: u32, token: u32, numTrailers: u32): void {}
export function proxy_on_grpc_receive(contextId: u32, token: u32, responseSize: u32): void {}
export function proxy_on_grpc_close(contextId: u32, token: u32, statusCode: u32): void {}
