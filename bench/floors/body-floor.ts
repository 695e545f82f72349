// @ts-nocheck: AssemblyScript (u32, usize, memory, load), compiled by bench/build-floors.ts with asc, not tsc.
//
// The floor of body routing: the least a filter must do to route on the request body. It holds
// the request headers, has Envoy buffer the body until its end, copies the body into the VM once
// (proxy_get_buffer_bytes), sets one request header (the cluster header the bench's route reads,
// `cluster_header: x-ai-cluster`) and lets the request go on. Everything the model-router or the
// pipeline spends beyond this is their own work. It does not use assembly/ (our ABI layer), which
// is what it is a floor for; it imports two proxy-wasm 0.2.1 functions and nothing else. Built
// with `--runtime stub`: no garbage collector; the one allocation is the body buffer, reused.

// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
declare function proxy_get_buffer_bytes(bufferType: u32, start: u32, maxSize: u32, ptrPtr: usize, sizePtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(mapType: u32, keyPtr: usize, keySize: usize, valuePtr: usize, valueSize: usize): u32;

const BUFFER_HTTP_REQUEST_BODY: u32 = 0;
const MAP_REQUEST_HEADERS: u32 = 0;
const HEADERS_CONTINUE: u32 = 0;
const HEADERS_STOP_ITERATION: u32 = 1;
const DATA_CONTINUE: u32 = 0;
const DATA_STOP_ITERATION_AND_BUFFER: u32 = 1;

// The header the bench's route reads, and the cluster it names: UTF-8 bytes in static data.
const CLUSTER_HEADER = memory.data<u8>([0x78, 0x2d, 0x61, 0x69, 0x2d, 0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72]); // "x-ai-cluster"
const CLUSTER_HEADER_LEN: usize = 12;
const CLUSTER = memory.data<u8>([0x75, 0x70, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d]); // "upstream"
const CLUSTER_LEN: usize = 8;

// Out-params of proxy_get_buffer_bytes. The host fills them before the call returns.
const OUT_PTR: usize = memory.data(4, 4);
const OUT_SIZE: usize = memory.data(4, 4);

// One buffer the host copies bodies into, grown to the largest body seen: the copy into the VM
// is the cost measured here, not an allocator's.
let scratch: usize = 0;
let scratchSize: usize = 0;

/** Bytes read so far (sum of the body sizes the host handed over), so the copy is not dead code. */
let bytesSeen: u64 = 0;

export function proxy_abi_version_0_2_1(): void {}

export function malloc(size: usize): usize {
  if (size > scratchSize) {
    scratch = heap.alloc(size);
    scratchSize = size;
  }
  return scratch;
}

function route(): void {
  proxy_replace_header_map_value(MAP_REQUEST_HEADERS, CLUSTER_HEADER, CLUSTER_HEADER_LEN, CLUSTER, CLUSTER_LEN);
}

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
  store<u32>(OUT_SIZE, 0);
  if (bodySize > 0 && proxy_get_buffer_bytes(BUFFER_HTTP_REQUEST_BODY, 0, bodySize, OUT_PTR, OUT_SIZE) == 0) {
    bytesSeen += load<u32>(OUT_SIZE);
  }
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
