// @ts-nocheck: AssemblyScript (u32, usize, memory, load), compiled by bench/build-floors.ts with asc, not tsc.
//
// The floor of a filter's required outputs: the body floor's steps (./body-routing.ts, all of ./body-floor.ts), unchanged, plus the
// host calls that the outputs a filter must produce force on Envoy's ABI (a header the issues
// mandate, a shared-data read or write, the response body read), and nothing else: no parsing,
// no hashing, no decision. Its cost above the body floor is what those calls cost, so it is the
// least a filter that must make them could cost above the body floor. One op is work instead of
// a call: `hash-request-body`, SHA-256 of the body as read (with the compression function the
// cache uses, assembly/crypto/sha256-compress.ts, which makes no host call), the least hashing a
// cache key over the body needs.
//
// Which calls, is its plugin configuration: a script, one call per line, `<phase> <op> [args]`
// (bench/README.md, "The calls floor's script"). proxy_on_configure reads it once and lays it out
// as a table of ops in linear memory, grouped by phase, with the names and values it passes kept
// where the script's bytes were copied; a request walks its phase's ops and allocates nothing.
// Every copy the host makes into the module lands in one reused buffer (`malloc`), as in the body
// floor: what is measured is the host's copy, not an allocator. A script error fails the plugin's
// start with one critical log line (the only use of proxy_log). Built with `--runtime stub`.

import { compressBlock } from "../../assembly/crypto/sha256-compress";
import {
  DATA_CONTINUE, DATA_STOP_ITERATION_AND_BUFFER, HEADERS_CONTINUE, HEADERS_STOP_ITERATION, MAP_REQUEST_HEADERS, OK, OUT_PTR, OUT_SIZE,
  bodyLength, bodyPtr, proxy_get_buffer_bytes, readRequestBody, route,
} from "./body-routing";

// @ts-ignore: decorator
@external("env", "proxy_log")
declare function proxy_log(level: u32, messagePtr: usize, messageSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_pairs")
declare function proxy_get_header_map_pairs(mapType: u32, ptrPtr: usize, sizePtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_value")
declare function proxy_get_header_map_value(mapType: u32, keyPtr: usize, keySize: usize, valuePtrPtr: usize, valueSizePtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_add_header_map_value")
declare function proxy_add_header_map_value(mapType: u32, keyPtr: usize, keySize: usize, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_current_time_nanoseconds")
declare function proxy_get_current_time_nanoseconds(timePtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_shared_data")
declare function proxy_get_shared_data(keyPtr: usize, keySize: usize, valuePtrPtr: usize, valueSizePtr: usize, casPtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_shared_data")
declare function proxy_set_shared_data(keyPtr: usize, keySize: usize, valuePtr: usize, valueSize: usize, cas: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_property")
declare function proxy_set_property(pathPtr: usize, pathSize: usize, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_define_metric")
declare function proxy_define_metric(metricType: u32, namePtr: usize, nameSize: usize, idPtr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
declare function proxy_increment_metric(metricId: u32, offset: i64): u32;

// proxy-wasm 0.2.1 numbers (assembly/abi/types.ts).
const LOG_CRITICAL: u32 = 5;
const METRIC_COUNTER: u32 = 0;
const BUFFER_HTTP_RESPONSE_BODY: u32 = 1;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const MAP_RESPONSE_HEADERS: u32 = 2;


// Out-params the host fills before a call returns.
const OUT_CAS: usize = memory.data(4, 4);
const OUT_TIME: usize = memory.data(8, 8);
const OUT_METRIC: usize = memory.data(4, 4);

// ---------------------------------------------------------------------------------------------
// The script's vocabulary. A phase is where in the stream its ops run; an op is one host call.

enum Phase {
  /** proxy_on_request_headers, before the body floor holds the headers. */
  RequestHeaders = 0,
  /** proxy_on_request_body at the end of the body, after the body floor's read, before its route header. */
  RequestBody = 1,
  ResponseHeaders = 2,
  /** Each proxy_on_response_body with data: the floor answers Continue, so a chunk is readable only then. */
  ResponseBody = 3,
  /** The last proxy_on_response_body (Envoy's HTTP/1 codec ends the body with an empty one). */
  ResponseEnd = 4,
}
const PHASE_COUNT: i32 = 5;
const PHASE_NAMES: StaticArray<string> = ["request-headers", "request-body", "response-headers", "response-body", "response-end"];

enum Op {
  ReadRequestHeaders = 0,
  ReadRequestHeader = 1,
  AddRequestHeader = 2,
  ReadResponseHeaders = 3,
  ReadResponseHeader = 4,
  AddResponseHeader = 5,
  ReadResponseBody = 6,
  ReadClock = 7,
  GetShared = 8,
  SetShared = 9,
  PutShared = 10,
  SetProperty = 11,
  Count = 12,
  HashRequestBody = 13,
}
const OP_NAMES: StaticArray<string> = [
  "read-request-headers", "read-request-header", "add-request-header",
  "read-response-headers", "read-response-header", "add-response-header",
  "read-response-body", "read-clock", "get-shared", "set-shared", "put-shared", "set-property", "count",
  "hash-request-body",
];
/** Each op's arguments, as the error for a wrong count shows them ... */
const OP_ARGS: StaticArray<string> = [
  "", "NAME", "NAME VALUE",
  "", "NAME", "NAME VALUE",
  "", "", "KEY", "KEY SIZE", "KEY SIZE", "PATH VALUE", "NAME",
  "",
];
/** ... and how many there are. */
const OP_ARG_COUNT: StaticArray<i32> = [0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 2, 1, 0];
const REQUEST_PHASES: u32 = (1 << Phase.RequestHeaders) | (1 << Phase.RequestBody);
const ANY_PHASE: u32 = (1 << PHASE_COUNT) - 1;
/**
 * The phases each op may run in: request headers are Envoy's to read and change until the
 * request goes on, response headers only in their own callback, a response chunk only in the
 * callback that carries it.
 */
const OP_PHASES: StaticArray<u32> = [
  REQUEST_PHASES, REQUEST_PHASES, REQUEST_PHASES,
  1 << Phase.ResponseHeaders, 1 << Phase.ResponseHeaders, 1 << Phase.ResponseHeaders,
  1 << Phase.ResponseBody, ANY_PHASE, ANY_PHASE, ANY_PHASE, ANY_PHASE, ANY_PHASE, ANY_PHASE,
  1 << Phase.RequestBody,
];
/** Largest shared-data value `set-shared`/`put-shared` write (the cache's entries are bounded alike). */
const MAX_VALUE_BYTES: u32 = 65536;

// One op in the table: its code, then two (pointer, length) byte strings (name and value, key
// and value, path and value) and, for `count`, the metric's id.
const OP_BYTES: usize = 24;
const AT_CODE: usize = 0;
const AT_A: usize = 4;
const AT_A_LEN: usize = 8;
const AT_B: usize = 12;
const AT_B_LEN: usize = 16;
const AT_METRIC: usize = 20;

/** Per phase, the first op and the end of its ops (two pointers). */
const PHASE_OPS: usize = memory.data(PHASE_COUNT * 8, 4);

// ---------------------------------------------------------------------------------------------
// Per request

/** What the last get-shared returned as the value's CAS (0 when the key was absent), for set-shared. */
let lastCas: u32 = 0;

// hash-request-body: SHA-256's state, its last block, and the digests' first words folded together
// so the hashing is not dead code.
const SHA_STATE: usize = memory.data(32, 8);
const SHA_BLOCK: usize = memory.data(64, 8);
const SHA_INITIAL: StaticArray<u32> = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
let digestsSeen: u32 = 0;

export function proxy_abi_version_0_2_1(): void {}

// The host's copies of headers, bodies, shared data and the configuration land in the body
// floor's one buffer, grown to the largest.
export { malloc } from "./body-routing";

/** Makes the host calls of `phase`'s ops, in the script's order. `chunkSize`: the response chunk in hand. */
function run(phase: Phase, chunkSize: u32): void {
  const at = PHASE_OPS + <usize>phase * 8;
  const end = load<usize>(at, 4);
  for (let op = load<usize>(at); op < end; op += OP_BYTES) call(op, chunkSize);
}

function call(op: usize, chunkSize: u32): void {
  const a = load<usize>(op, AT_A);
  const aLen = load<usize>(op, AT_A_LEN);
  const b = load<usize>(op, AT_B);
  const bLen = load<usize>(op, AT_B_LEN);
  switch (load<u32>(op, AT_CODE)) {
    case Op.ReadRequestHeaders: proxy_get_header_map_pairs(MAP_REQUEST_HEADERS, OUT_PTR, OUT_SIZE); break;
    case Op.ReadRequestHeader: proxy_get_header_map_value(MAP_REQUEST_HEADERS, a, aLen, OUT_PTR, OUT_SIZE); break;
    case Op.AddRequestHeader: proxy_add_header_map_value(MAP_REQUEST_HEADERS, a, aLen, b, bLen); break;
    case Op.ReadResponseHeaders: proxy_get_header_map_pairs(MAP_RESPONSE_HEADERS, OUT_PTR, OUT_SIZE); break;
    case Op.ReadResponseHeader: proxy_get_header_map_value(MAP_RESPONSE_HEADERS, a, aLen, OUT_PTR, OUT_SIZE); break;
    case Op.AddResponseHeader: proxy_add_header_map_value(MAP_RESPONSE_HEADERS, a, aLen, b, bLen); break;
    case Op.ReadResponseBody: proxy_get_buffer_bytes(BUFFER_HTTP_RESPONSE_BODY, 0, chunkSize, OUT_PTR, OUT_SIZE); break;
    case Op.ReadClock: proxy_get_current_time_nanoseconds(OUT_TIME); break;
    case Op.GetShared: {
      store<u32>(OUT_CAS, 0);
      lastCas = proxy_get_shared_data(a, aLen, OUT_PTR, OUT_SIZE, OUT_CAS) == OK ? load<u32>(OUT_CAS) : 0;
      break;
    }
    // A compare-and-swap on what the last get-shared read (token-bucket's records) ...
    case Op.SetShared: proxy_set_shared_data(a, aLen, b, bLen, lastCas); break;
    // ... or a write whatever the key holds (the cache's slots: a stale CAS would skip the write).
    case Op.PutShared: proxy_set_shared_data(a, aLen, b, bLen, 0); break;
    case Op.SetProperty: proxy_set_property(a, aLen, b, bLen); break;
    case Op.Count: proxy_increment_metric(load<u32>(op, AT_METRIC), 1); break;
    case Op.HashRequestBody: hashBody(); break;
  }
}

/**
 * SHA-256 (FIPS 180-4) of the body the floor read. The host's copy is in the one reused buffer,
 * so a script lists this op before any other read of its phase (a read's copy would replace it).
 */
function hashBody(): void {
  for (let i = 0; i < 8; i++) store<u32>(SHA_STATE + (<usize>i << 2), unchecked(SHA_INITIAL[i]));
  const len = bodyLength;
  let at: usize = 0;
  for (; at + 64 <= len; at += 64) compressBlock(SHA_STATE, bodyPtr + at);
  // The padding: a 1 bit, zeros, and the length in bits in the last 8 bytes of a block.
  const rest = len - at;
  memory.copy(SHA_BLOCK, bodyPtr + at, rest);
  store<u8>(SHA_BLOCK + rest, 0x80);
  if (rest >= 56) {
    memory.fill(SHA_BLOCK + rest + 1, 0, 63 - rest);
    compressBlock(SHA_STATE, SHA_BLOCK);
    memory.fill(SHA_BLOCK, 0, 56);
  } else {
    memory.fill(SHA_BLOCK + rest + 1, 0, 55 - rest);
  }
  store<u64>(SHA_BLOCK + 56, bswap<u64>(<u64>len << 3));
  compressBlock(SHA_STATE, SHA_BLOCK);
  digestsSeen ^= load<u32>(SHA_STATE);
}

// The body floor's callbacks, each with its phase's calls. A request without a body is routed at
// once (its request-body ops do not run); one with a body waits for it.
export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  run(Phase.RequestHeaders, 0);
  if (!endOfStream) return HEADERS_STOP_ITERATION;
  route();
  return HEADERS_CONTINUE;
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  if (!endOfStream) return DATA_STOP_ITERATION_AND_BUFFER;
  readRequestBody(bodySize);
  run(Phase.RequestBody, 0);
  route();
  return DATA_CONTINUE;
}

export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: bool): u32 {
  run(Phase.ResponseHeaders, 0);
  return HEADERS_CONTINUE;
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  if (bodySize > 0) run(Phase.ResponseBody, bodySize);
  if (endOfStream) run(Phase.ResponseEnd, 0);
  return DATA_CONTINUE;
}

// ---------------------------------------------------------------------------------------------
// The script, read once

/** The root context whose script the table holds: one filter entry per VM. */
let configuredRoot: u32 = 0;

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): bool {
  if (configuredRoot != 0 && configuredRoot != rootContextId) {
    return fail(0, "one calls-floor entry per VM (vm_id): the ops table is the module's, and another entry has configured it");
  }
  configuredRoot = rootContextId;
  let text: usize = 0;
  let len: usize = 0;
  if (pluginConfigurationSize > 0) {
    if (proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, pluginConfigurationSize, OUT_PTR, OUT_SIZE) != OK) {
      return fail(0, "could not read the plugin configuration");
    }
    // The ops point into this copy for good; the host's copy is in the reused buffer.
    len = load<u32>(OUT_SIZE);
    text = heap.alloc(len);
    memory.copy(text, load<usize>(OUT_PTR), len);
  }
  return parseScript(text, len);
}

/** Lays the script's ops out by phase: room for every line in every phase, filled in script order. */
function parseScript(text: usize, len: usize): bool {
  let lines: usize = 1;
  for (let i: usize = 0; i < len; i++) if (load<u8>(text + i) == 0x0a) lines++;
  const table = heap.alloc(<usize>PHASE_COUNT * lines * OP_BYTES);
  for (let p = 0; p < PHASE_COUNT; p++) {
    const first = table + <usize>p * lines * OP_BYTES;
    store<usize>(PHASE_OPS + <usize>p * 8, first);
    store<usize>(PHASE_OPS + <usize>p * 8, first, 4);
  }
  let start: usize = 0;
  let line = 1;
  while (start <= len) {
    let end = start;
    while (end < len && load<u8>(text + end) != 0x0a) end++;
    if (!parseLine(text + start, end - start, line)) return false;
    start = end + 1;
    line++;
  }
  return true;
}

// A line's fields (pointer, length), at most MAX_FIELDS: phase, op and two arguments.
const MAX_FIELDS: i32 = 4;
const FIELDS: usize = memory.data(MAX_FIELDS * 8, 4);

function fieldPtr(i: i32): usize {
  return load<usize>(FIELDS + <usize>i * 8);
}
function fieldLen(i: i32): usize {
  return load<usize>(FIELDS + <usize>i * 8, 4);
}

function isBlank(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0d;
}

/** One line: blank lines and `#` comments are skipped; fields are separated by spaces or tabs. */
function parseLine(ptr: usize, len: usize, line: i32): bool {
  let n = 0;
  let i: usize = 0;
  while (true) {
    while (i < len && isBlank(load<u8>(ptr + i))) i++;
    if (i >= len) break;
    if (n == 0 && load<u8>(ptr + i) == 0x23) return true; // "#"
    const start = i;
    while (i < len && !isBlank(load<u8>(ptr + i))) i++;
    if (n == MAX_FIELDS) return fail(line, "too many fields; expected <phase> <op> [args]");
    store<usize>(FIELDS + <usize>n * 8, ptr + start);
    store<usize>(FIELDS + <usize>n * 8, i - start, 4);
    n++;
  }
  if (n == 0) return true;
  if (n == 1) return fail(line, "expected <phase> <op> [args], got only " + quoted(0));

  const phase = lookup(PHASE_NAMES, 0);
  if (phase < 0) return fail(line, "unknown phase " + quoted(0) + "; expected one of " + joined(PHASE_NAMES));
  const op = lookup(OP_NAMES, 1);
  if (op < 0) return fail(line, "unknown op " + quoted(1) + "; expected one of " + joined(OP_NAMES));
  const wanted = OP_ARG_COUNT[op];
  if (n - 2 != wanted) {
    return fail(line, OP_NAMES[op] + " takes " + (wanted == 0 ? "no arguments" : OP_ARGS[op]) + ", got " + (n - 2).toString() + " argument(s)");
  }
  if ((OP_PHASES[op] & (1 << phase)) == 0) {
    return fail(line, OP_NAMES[op] + " cannot run in " + PHASE_NAMES[phase] + "; it runs in " + phasesOf(OP_PHASES[op]));
  }

  const at = PHASE_OPS + <usize>phase * 8;
  const rec = load<usize>(at, 4);
  store<usize>(at, rec + OP_BYTES, 4);
  store<u32>(rec, <u32>op, AT_CODE);
  store<usize>(rec, n > 2 ? fieldPtr(2) : 0, AT_A);
  store<usize>(rec, n > 2 ? fieldLen(2) : 0, AT_A_LEN);
  store<usize>(rec, n > 3 ? fieldPtr(3) : 0, AT_B);
  store<usize>(rec, n > 3 ? fieldLen(3) : 0, AT_B_LEN);
  store<u32>(rec, 0, AT_METRIC);
  if (op == Op.SetShared || op == Op.PutShared) {
    // The value: SIZE bytes, written as they are on every request.
    const size = decimal(fieldPtr(3), fieldLen(3));
    if (size < 1 || size > <i64>MAX_VALUE_BYTES) return fail(line, OP_NAMES[op] + ": SIZE must be 1.." + MAX_VALUE_BYTES.toString() + ", got " + quoted(3));
    const value = heap.alloc(<usize>size);
    memory.fill(value, 0x76, <usize>size); // "v"
    store<usize>(rec, value, AT_B);
    store<usize>(rec, <usize>size, AT_B_LEN);
  } else if (op == Op.Count) {
    if (proxy_define_metric(METRIC_COUNTER, fieldPtr(2), fieldLen(2), OUT_METRIC) != OK) return fail(line, "could not define the counter " + quoted(2));
    store<u32>(rec, load<u32>(OUT_METRIC), AT_METRIC);
  }
  return true;
}

/** Index of field `i` among `names`, or -1. */
function lookup(names: StaticArray<string>, i: i32): i32 {
  const ptr = fieldPtr(i);
  const len = fieldLen(i);
  for (let k = 0; k < names.length; k++) {
    const name = names[k];
    if (<usize>name.length != len) continue;
    let same = true;
    for (let j = 0; j < name.length && same; j++) same = <u32>name.charCodeAt(j) == <u32>load<u8>(ptr + <usize>j);
    if (same) return k;
  }
  return -1;
}

/** A decimal number of at most 9 digits, or -1. */
function decimal(ptr: usize, len: usize): i64 {
  if (len == 0 || len > 9) return -1;
  let n: i64 = 0;
  for (let i: usize = 0; i < len; i++) {
    const c = load<u8>(ptr + i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + <i64>(c - 0x30);
  }
  return n;
}

function quoted(i: i32): string {
  return '"' + String.UTF8.decodeUnsafe(fieldPtr(i), fieldLen(i)) + '"';
}

function joined(names: StaticArray<string>): string {
  let s = "";
  for (let k = 0; k < names.length; k++) s += (k > 0 ? ", " : "") + names[k];
  return s;
}

function phasesOf(mask: u32): string {
  let s = "";
  for (let p = 0; p < PHASE_COUNT; p++) if ((mask & (1 << p)) != 0) s += (s.length > 0 ? ", " : "") + PHASE_NAMES[p];
  return s;
}

/** One critical line, as Envoy shows a plugin that refused its configuration; false, for proxy_on_configure. */
function fail(line: i32, what: string): bool {
  const message = String.UTF8.encode("calls-floor: " + (line > 0 ? "line " + line.toString() + ": " : "") + what);
  proxy_log(LOG_CRITICAL, changetype<usize>(message), <usize>message.byteLength);
  return false;
}

// The callbacks it does nothing in, shared by the floors.
export * from "./idle-callbacks";
