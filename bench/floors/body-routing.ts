// @ts-nocheck: AssemblyScript (u32, usize, memory, load), compiled into the floors by bench/build-floors.ts with asc, not tsc.
//
// What the body floor does, written once: the body floor (./body-floor.ts) is these callbacks'
// steps and nothing else, and the calls floor (./calls-floor.ts) is the same steps with its
// script's calls between them, so the two measure the same body routing by construction. Two
// proxy-wasm 0.2.1 imports: the body's read and the cluster header's write.

// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(bufferType: u32, start: u32, maxSize: u32, ptrPtr: usize, sizePtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(mapType: u32, keyPtr: usize, keySize: usize, valuePtr: usize, valueSize: usize): u32;

// proxy-wasm 0.2.1 numbers (assembly/abi/types.ts).
export const OK: u32 = 0;
export const BUFFER_HTTP_REQUEST_BODY: u32 = 0;
export const MAP_REQUEST_HEADERS: u32 = 0;
export const HEADERS_CONTINUE: u32 = 0;
export const HEADERS_STOP_ITERATION: u32 = 1;
export const DATA_CONTINUE: u32 = 0;
export const DATA_STOP_ITERATION_AND_BUFFER: u32 = 1;

// The header the bench's route reads, and the cluster it names: UTF-8 bytes in static data.
const CLUSTER_HEADER = memory.data<u8>([0x78, 0x2d, 0x61, 0x69, 0x2d, 0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72]); // "x-ai-cluster"
const CLUSTER_HEADER_LEN: usize = 12;
const CLUSTER = memory.data<u8>([0x75, 0x70, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d]); // "upstream"
const CLUSTER_LEN: usize = 8;

// Out-params of the host's copies. The host fills them before the call returns.
export const OUT_PTR: usize = memory.data(4, 4);
export const OUT_SIZE: usize = memory.data(4, 4);

// One buffer the host copies into, grown to the largest copy seen: the copy into the VM is the
// cost measured here, not an allocator's.
let scratch: usize = 0;
let scratchSize: usize = 0;

/** Bytes read so far (sum of the body sizes the host handed over), so the copy is not dead code. */
let bytesSeen: u64 = 0;
/** The last request body read: the host's copy, in the one buffer until the host's next copy. */
export let bodyPtr: usize = 0;
export let bodyLength: usize = 0;

export function malloc(size: usize): usize {
  if (size > scratchSize) {
    scratch = heap.alloc(size);
    scratchSize = size;
  }
  return scratch;
}

/** Sets the cluster header the bench's route reads (`cluster_header: x-ai-cluster`). */
export function route(): void {
  proxy_replace_header_map_value(MAP_REQUEST_HEADERS, CLUSTER_HEADER, CLUSTER_HEADER_LEN, CLUSTER, CLUSTER_LEN);
}

/** Copies the whole buffered request body (`bodySize` bytes) into the VM once. */
export function readRequestBody(bodySize: u32): void {
  store<u32>(OUT_SIZE, 0);
  bodyLength = 0;
  if (bodySize > 0 && proxy_get_buffer_bytes(BUFFER_HTTP_REQUEST_BODY, 0, bodySize, OUT_PTR, OUT_SIZE) == OK) {
    bodyLength = load<u32>(OUT_SIZE);
    bodyPtr = load<u32>(OUT_PTR);
    bytesSeen += bodyLength;
  }
}
