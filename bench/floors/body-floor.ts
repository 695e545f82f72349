// @ts-nocheck: AssemblyScript (u32, usize, memory, load), compiled by bench/build-floors.ts with asc, not tsc.
//
// The floor of body routing: the least a filter must do to route on the request body. It holds
// the request headers, has Envoy buffer the body until its end, copies the body into the VM once
// (proxy_get_buffer_bytes), sets one request header (the cluster header the bench's route reads,
// `cluster_header: x-ai-cluster`) and lets the request go on. Everything the model-router or the
// pipeline spends beyond this is their own work. It does not use assembly/ (our ABI layer), which
// is what it is a floor for; it imports two proxy-wasm 0.2.1 functions and nothing else. Built
// with `--runtime stub`: no garbage collector; the one allocation is the body buffer, reused.

import { DATA_CONTINUE, DATA_STOP_ITERATION_AND_BUFFER, HEADERS_CONTINUE, HEADERS_STOP_ITERATION, readRequestBody, route } from "./body-routing";

// The body floor's steps (./body-routing.ts, shared with the calls floor), and the host's
// buffer for its copies.
export { malloc } from "./body-routing";

export function proxy_abi_version_0_2_1(): void {}

// A request without a body is routed at once; one with a body waits for it.
export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  if (!endOfStream) return HEADERS_STOP_ITERATION;
  route();
  return HEADERS_CONTINUE;
}

// Envoy buffers while the filter answers StopIterationAndBuffer; at the end, bodySize is the
// whole buffered body.
export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  if (!endOfStream) return DATA_STOP_ITERATION_AND_BUFFER;
  readRequestBody(bodySize);
  route();
  return DATA_CONTINUE;
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): bool {
  return true;
}
export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  return 0;
}
export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  return 0;
}

// The callbacks it does nothing in, shared by the floors.
export * from "./idle-callbacks";
