// @ts-nocheck: AssemblyScript (u32, usize, heap), compiled by bench/build-floors.ts with asc, not tsc.
//
// The floor of any Wasm filter: a module whose proxy-wasm 0.2.1 entry points return at once and
// call nothing in the host. What Envoy spends on it per request (creating the stream context,
// calling into V8 for each callback, deleting the context) is what every Wasm filter pays before
// doing any work; the bench compares the headers-only filters (noop) with it. It does not use
// assembly/ (our ABI layer), which is what it is a floor for. Built with `--runtime stub`: no
// garbage collector, and nothing here allocates.

export function proxy_abi_version_0_2_1(): void {}

/** The host calls it only to hand over data the module asks for, which this one never does. */
export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): bool {
  return true;
}

// 0 is Continue in FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus and FilterMetadataStatus.
export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  return 0;
}
export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  return 0;
}
export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  return 0;
}
export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  return 0;
}

// The callbacks it does nothing in, shared by the floors.
export * from "./idle-callbacks";
