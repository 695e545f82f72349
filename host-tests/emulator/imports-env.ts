// The `env` host functions Envoy registers for a proxy-wasm 0.2.x module (cpp-host
// WasmBase::registerCallbacks: FOR_ALL_HOST_FUNCTIONS, plus continue_stream/close_stream, plus
// get_log_level for 0.2.1, plus pthread_equal and emscripten_notify_memory_growth). Argument
// checks and results follow cpp-host src/exports.cc; what each call does to a context follows
// Envoy's Context (see ./stream-context.ts and ./context-base.ts). gRPC calls are not emulated
// and answer Unimplemented. Every answer other than Ok is counted in Host.hostCallFailures.

import type { HeaderMap } from "./header-map";
import { decodePairs, encodePairs } from "./pairs";
import { RootContext } from "./root-context";
import {
  BUFFER_TYPE_MAX, HEADER_MAP_TYPE_MAX, LOG_LEVELS, STREAM_TYPE_MAX, WasmResult, fromUtf8, utf8,
} from "./types";
import type { Vm } from "./vm";

type HostFunction = (...args: Array<number | bigint>) => number | void;

const { Ok, NotFound, BadArgument, InvalidMemoryAccess, Unimplemented } = WasmResult;

export function envImports(vm: Vm): Record<string, HostFunction> {
  const host = vm.host;
  const mem = () => vm.memory;
  /** Wraps a host function: start-up restriction first, then the non-Ok accounting. */
  const fn = (name: string, body: (...args: number[]) => number): HostFunction => {
    return (...args: Array<number | bigint>) => {
      vm.hostCalls.set(name, (vm.hostCalls.get(name) ?? 0) + 1);
      vm.checkRestricted("env", name);
      return vm.noteResult(name, body(...(args as number[])));
    };
  };

  const env: Record<string, HostFunction> = {
    proxy_log: fn("proxy_log", (level, ptr, size) => {
      if (level >>> 0 > LOG_LEVELS.length - 1) return BadArgument;
      const message = mem().string(ptr, size);
      if (message === null) return InvalidMemoryAccess;
      const ctx = vm.context();
      host.logSink.add({
        level: LOG_LEVELS[level],
        message,
        source: "proxy_log",
        vm: vm.label,
        rootId: ctx.rootId,
        contextId: ctx.id,
        timeMs: host.clock.nowMs(),
      });
      return Ok;
    }),

    proxy_get_log_level: fn("proxy_get_log_level", (ptr) =>
      mem().setU32(ptr, host.logSink.levelNumber) ? Ok : InvalidMemoryAccess,
    ),

    proxy_get_current_time_nanoseconds: fn("proxy_get_current_time_nanoseconds", (ptr) =>
      mem().setU64(ptr, host.clock.nowNanos()) ? Ok : InvalidMemoryAccess,
    ),

    proxy_set_tick_period_milliseconds: fn("proxy_set_tick_period_milliseconds", (period) => {
      // ContextBase::setTimerPeriod: the timer belongs to the root of the effective context.
      const root = vm.context().root;
      if (root instanceof RootContext) root.setTimerPeriod(period >>> 0);
      return Ok;
    }),

    proxy_set_effective_context: fn("proxy_set_effective_context", (id) => vm.setEffectiveContext(id >>> 0)),

    proxy_done: fn("proxy_done", () => vm.done(vm.context())),

    proxy_get_buffer_bytes: fn("proxy_get_buffer_bytes", (type, start, length, ptrPtr, sizePtr) => {
      if (type >>> 0 > BUFFER_TYPE_MAX) return BadArgument;
      const buffer = vm.context().getBuffer(type >>> 0);
      if (buffer === null) return NotFound;
      const from = start >>> 0;
      let len = length >>> 0;
      if (from > buffer.length) len = 0;
      else if (from + len > buffer.length) len = buffer.length - from;
      if (len === 0) return mem().setU32(ptrPtr, 0) && mem().setU32(sizePtr, 0) ? Ok : InvalidMemoryAccess;
      return mem().copyToPointerSize(buffer.slice(from, len), ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_set_buffer_bytes: fn("proxy_set_buffer_bytes", (type, start, length, dataPtr, dataSize) => {
      if (type >>> 0 > BUFFER_TYPE_MAX) return BadArgument;
      const buffer = vm.context().getBuffer(type >>> 0);
      if (buffer === null) return NotFound;
      const data = mem().copy(dataPtr, dataSize);
      if (data === null) return InvalidMemoryAccess;
      return buffer.copyFrom(start >>> 0, length >>> 0, data);
    }),

    proxy_get_buffer_status: fn("proxy_get_buffer_status", (type, lengthPtr, flagsPtr) => {
      if (type >>> 0 > BUFFER_TYPE_MAX) return BadArgument;
      const buffer = vm.context().getBuffer(type >>> 0);
      if (buffer === null) return NotFound;
      return mem().setU32(lengthPtr, buffer.length) && mem().setU32(flagsPtr, 0) ? Ok : InvalidMemoryAccess;
    }),

    proxy_get_header_map_pairs: fn("proxy_get_header_map_pairs", (type, ptrPtr, sizePtr) => {
      if (type >>> 0 > HEADER_MAP_TYPE_MAX) return BadArgument;
      const map = vm.context().getConstMap(type >>> 0);
      const pairs = map === null ? [] : map.pairs();
      const bytes = pairs.length === 0 ? new Uint8Array(0) : encodePairs(pairs);
      return mem().copyToPointerSize(bytes, ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_set_header_map_pairs: fn("proxy_set_header_map_pairs", (type, ptr, size) => {
      if (type >>> 0 > HEADER_MAP_TYPE_MAX) return BadArgument;
      const ctx = vm.context();
      const data = mem().view(ptr, size);
      if (data === null) return InvalidMemoryAccess;
      const map = ctx.getMap(type >>> 0);
      if (map === null) return BadArgument;
      const pairs = decodePairs(data);
      map.clear();
      for (const [name, value] of pairs) map.add(name, value);
      ctx.onHeadersModified(type >>> 0);
      return Ok;
    }),

    proxy_get_header_map_size: fn("proxy_get_header_map_size", (type, ptr) => {
      if (type >>> 0 > HEADER_MAP_TYPE_MAX) return BadArgument;
      // Envoy answers from the writable map and reports HeaderMap::byteSize(), not a count.
      const map = vm.context().getMap(type >>> 0);
      if (map === null) return BadArgument;
      return mem().setU32(ptr, map.byteSize()) ? Ok : InvalidMemoryAccess;
    }),

    proxy_get_header_map_value: fn("proxy_get_header_map_value", (type, keyPtr, keySize, ptrPtr, sizePtr) => {
      if (type >>> 0 > HEADER_MAP_TYPE_MAX) return BadArgument;
      const ctx = vm.context();
      const key = mem().string(keyPtr, keySize);
      if (key === null) return InvalidMemoryAccess;
      const map = ctx.getConstMap(type >>> 0);
      if (map === null) return ctx.accessLogPhase ? NotFound : BadArgument;
      const value = map.get(key);
      if (value === undefined) return NotFound;
      return mem().copyToPointerSize(utf8(value), ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_add_header_map_value: fn("proxy_add_header_map_value", (type, keyPtr, keySize, valuePtr, valueSize) =>
      writeHeader(type, keyPtr, keySize, valuePtr, valueSize, (map, key, value) => map.add(key, value)),
    ),

    proxy_replace_header_map_value: fn("proxy_replace_header_map_value", (type, keyPtr, keySize, valuePtr, valueSize) =>
      writeHeader(type, keyPtr, keySize, valuePtr, valueSize, (map, key, value) => map.set(key, value)),
    ),

    proxy_remove_header_map_value: fn("proxy_remove_header_map_value", (type, keyPtr, keySize) =>
      writeHeader(type, keyPtr, keySize, 0, 0, (map, key) => map.remove(key)),
    ),

    proxy_get_property: fn("proxy_get_property", (pathPtr, pathSize, ptrPtr, sizePtr) => {
      const path = mem().string(pathPtr, pathSize);
      if (path === null) return InvalidMemoryAccess;
      const { result, value } = vm.context().getProperty(path);
      if (result !== Ok) return result;
      return mem().copyToPointerSize(value!, ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_set_property: fn("proxy_set_property", (pathPtr, pathSize, valuePtr, valueSize) => {
      const path = mem().string(pathPtr, pathSize);
      const value = mem().copy(valuePtr, valueSize);
      if (path === null || value === null) return InvalidMemoryAccess;
      return vm.context().setProperty(path, value);
    }),

    proxy_get_shared_data: fn("proxy_get_shared_data", (keyPtr, keySize, ptrPtr, sizePtr, casPtr) => {
      const key = mem().string(keyPtr, keySize);
      if (key === null) return InvalidMemoryAccess;
      const entry = host.sharedDataStore.get(vm.vmId, key);
      if (entry === undefined) return NotFound;
      if (!mem().copyToPointerSize(entry.bytes, ptrPtr, sizePtr)) return InvalidMemoryAccess;
      return mem().setU32(casPtr, entry.cas) ? Ok : InvalidMemoryAccess;
    }),

    proxy_set_shared_data: fn("proxy_set_shared_data", (keyPtr, keySize, valuePtr, valueSize, cas) => {
      const key = mem().string(keyPtr, keySize);
      const value = mem().copy(valuePtr, valueSize);
      if (key === null || value === null) return InvalidMemoryAccess;
      return host.sharedDataStore.guestSet(vm.vmId, key, value, cas >>> 0);
    }),

    proxy_register_shared_queue: fn("proxy_register_shared_queue", (namePtr, nameSize, tokenPtr) => {
      const name = mem().string(namePtr, nameSize);
      if (name === null) return InvalidMemoryAccess;
      // onQueueReady goes to the root: a stream registers on behalf of its root context.
      const token = host.queueStore.register(vm.vmId, name, vm, vm.context().root.id);
      return mem().setU32(tokenPtr, token) ? Ok : InvalidMemoryAccess;
    }),

    proxy_resolve_shared_queue: fn("proxy_resolve_shared_queue", (vmIdPtr, vmIdSize, namePtr, nameSize, tokenPtr) => {
      const vmId = mem().string(vmIdPtr, vmIdSize);
      const name = mem().string(namePtr, nameSize);
      if (vmId === null || name === null) return InvalidMemoryAccess;
      const token = host.queueStore.resolve(vmId === "" ? vm.vmId : vmId, name);
      if (vm.failed || token === 0) return NotFound;
      return mem().setU32(tokenPtr, token) ? Ok : InvalidMemoryAccess;
    }),

    proxy_dequeue_shared_queue: fn("proxy_dequeue_shared_queue", (token, ptrPtr, sizePtr) => {
      const { result, data } = host.queueStore.dequeue(token >>> 0);
      if (result !== Ok) return result;
      return mem().copyToPointerSize(data!, ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_enqueue_shared_queue: fn("proxy_enqueue_shared_queue", (token, ptr, size) => {
      const data = mem().copy(ptr, size);
      if (data === null) return InvalidMemoryAccess;
      return host.queueStore.enqueue(token >>> 0, data);
    }),

    proxy_continue_stream: fn("proxy_continue_stream", (type) =>
      type >>> 0 > STREAM_TYPE_MAX ? BadArgument : vm.context().continueStream(type >>> 0),
    ),

    proxy_close_stream: fn("proxy_close_stream", (type) =>
      type >>> 0 > STREAM_TYPE_MAX ? BadArgument : vm.context().closeStream(type >>> 0),
    ),

    proxy_send_local_response: fn(
      "proxy_send_local_response",
      (status, detailsPtr, detailsSize, bodyPtr, bodySize, headersPtr, headersSize, grpcStatus) => {
        const details = mem().string(detailsPtr, detailsSize);
        const body = mem().copy(bodyPtr, bodySize);
        const headers = mem().view(headersPtr, headersSize);
        if (details === null || body === null || headers === null) return InvalidMemoryAccess;
        vm.context().sendLocalResponse(status >>> 0, body, decodePairs(headers), grpcStatus | 0, details);
        // The callback's own result no longer matters: Envoy stops iteration after it returns.
        vm.stopIteration = true;
        return Ok;
      },
    ),

    proxy_http_call: fn(
      "proxy_http_call",
      (upPtr, upSize, hPtr, hSize, bodyPtr, bodySize, tPtr, tSize, timeoutMs, tokenPtr) => {
        // exports.cc http_call: the call always belongs to the root of the calling context.
        const root = vm.context().root;
        const cluster = mem().string(upPtr, upSize);
        const body = mem().copy(bodyPtr, bodySize);
        const headers = mem().view(hPtr, hSize);
        const trailers = mem().view(tPtr, tSize);
        if (cluster === null || body === null || headers === null || trailers === null) return InvalidMemoryAccess;
        const headerList = decodePairs(headers);
        const trailerList = decodePairs(trailers);
        if (!mem().setU32(tokenPtr, 0)) return InvalidMemoryAccess;
        const { result, token } = vm.httpCalls.start(root, cluster, headerList, body, trailerList, timeoutMs >>> 0);
        mem().setU32(tokenPtr, token);
        return result;
      },
    ),

    proxy_define_metric: fn("proxy_define_metric", (type, namePtr, nameSize, idPtr) => {
      const name = mem().string(namePtr, nameSize);
      if (name === null) return InvalidMemoryAccess;
      const { result, id } = vm.metrics.define(type >>> 0, name);
      if (result !== Ok) return result;
      return mem().setU32(idPtr, id) ? Ok : InvalidMemoryAccess;
    }),

    proxy_increment_metric: (id: number | bigint, offset: number | bigint) => {
      vm.checkRestricted("env", "proxy_increment_metric");
      return vm.noteResult("proxy_increment_metric", vm.metrics.increment(Number(id) >>> 0, BigInt(offset)));
    },

    proxy_record_metric: (id: number | bigint, value: number | bigint) => {
      vm.checkRestricted("env", "proxy_record_metric");
      return vm.noteResult("proxy_record_metric", vm.metrics.record(Number(id) >>> 0, BigInt.asUintN(64, BigInt(value))));
    },

    proxy_get_metric: fn("proxy_get_metric", (id, ptr) => {
      const { result, value } = vm.metrics.get(id >>> 0);
      if (result !== Ok) return result;
      return mem().setU64(ptr, value) ? Ok : InvalidMemoryAccess;
    }),

    proxy_call_foreign_function: fn(
      "proxy_call_foreign_function",
      (namePtr, nameSize, argPtr, argSize, retPtrPtr, retSizePtr) => {
        const name = mem().string(namePtr, nameSize);
        const argument = mem().copy(argPtr, argSize);
        if (name === null || argument === null) return InvalidMemoryAccess;
        const { result, data } = host.callForeignFunction(name, argument, vm.context());
        if (result === NotFound && data === undefined) return NotFound;
        let address = 0;
        const bytes = data ?? new Uint8Array(0);
        if (bytes.length > 0 && retPtrPtr >>> 0 !== 0) {
          const ptr = mem().alloc(bytes);
          if (ptr === null) return InvalidMemoryAccess;
          address = ptr;
        }
        if (retPtrPtr >>> 0 !== 0 && !mem().setU32(retPtrPtr, address)) return InvalidMemoryAccess;
        if (retSizePtr >>> 0 !== 0 && !mem().setU32(retSizePtr, bytes.length)) return InvalidMemoryAccess;
        return result;
      },
    ),

    proxy_get_status: fn("proxy_get_status", (codePtr, ptrPtr, sizePtr) => {
      const root = vm.context().root;
      if (!mem().setU32(codePtr, root.statusCode)) return InvalidMemoryAccess;
      return mem().copyToPointerSize(utf8(root.statusMessage), ptrPtr, sizePtr) ? Ok : InvalidMemoryAccess;
    }),

    proxy_grpc_call: fn("proxy_grpc_call", () => Unimplemented),
    proxy_grpc_stream: fn("proxy_grpc_stream", () => Unimplemented),
    proxy_grpc_cancel: fn("proxy_grpc_cancel", () => Unimplemented),
    proxy_grpc_close: fn("proxy_grpc_close", () => Unimplemented),
    proxy_grpc_send: fn("proxy_grpc_send", () => Unimplemented),

    pthread_equal: (a: number | bigint, b: number | bigint) => (a === b ? 1 : 0),
    emscripten_notify_memory_growth: () => undefined,
  };

  // proxy_get_log_level exists only for ABI 0.2.1 modules.
  if (vm.abi !== "0.2.1") delete env.proxy_get_log_level;

  function writeHeader(
    type: number,
    keyPtr: number,
    keySize: number,
    valuePtr: number,
    valueSize: number,
    apply: (map: HeaderMap, key: string, value: string) => void,
  ): number {
    if (type >>> 0 > HEADER_MAP_TYPE_MAX) return BadArgument;
    const ctx = vm.context();
    const key = mem().string(keyPtr, keySize);
    const value = mem().view(valuePtr, valueSize);
    if (key === null || value === null) return InvalidMemoryAccess;
    const map = ctx.getMap(type >>> 0);
    if (map === null) return BadArgument;
    apply(map, key, fromUtf8(value));
    ctx.onHeadersModified(type >>> 0);
    return Ok;
  }

  return env;
}
