// @ts-nocheck: AssemblyScript (u32), compiled into each floor by bench/build-floors.ts with asc, not tsc.
//
// The proxy-wasm 0.2.1 callbacks no floor does anything in. A floor must still export each one
// our ABI layer exports (bench/build-floors.ts checks), so that Envoy sees the same surface; every
// floor re-exports these and defines only the callbacks it works in.

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {}
export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): bool {
  return true;
}
export function proxy_on_tick(rootContextId: u32): void {}
export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void {}
export function proxy_on_foreign_function(rootContextId: u32, functionId: u32, dataSize: u32): void {}
export function proxy_on_request_trailers(contextId: u32, numTrailers: u32): u32 {
  return 0;
}
export function proxy_on_request_metadata(contextId: u32, numElements: u32): u32 {
  return 0;
}
export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): u32 {
  return 0;
}
export function proxy_on_response_metadata(contextId: u32, numElements: u32): u32 {
  return 0;
}
export function proxy_on_log(contextId: u32): void {}
export function proxy_on_done(contextId: u32): bool {
  return true;
}
export function proxy_on_delete(contextId: u32): void {}
export function proxy_on_http_call_response(contextId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}
export function proxy_on_grpc_receive_initial_metadata(contextId: u32, token: u32, numHeaders: u32): void {}
export function proxy_on_grpc_receive_trailing_metadata(contextId: u32, token: u32, numTrailers: u32): void {}
export function proxy_on_grpc_receive(contextId: u32, token: u32, responseSize: u32): void {}
export function proxy_on_grpc_close(contextId: u32, token: u32, statusCode: u32): void {}
