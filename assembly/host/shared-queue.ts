// Shared queues: a consumer registers a name (last registrant wins, so register from one place)
// and receives `onQueueReady`; producers in any VM with the same `vm_id` resolve it and enqueue.

import {
  proxy_dequeue_shared_queue, proxy_enqueue_shared_queue, proxy_register_shared_queue,
  proxy_resolve_shared_queue,
} from "../abi/imports";
import { WasmResult } from "../abi/types";
import { clearOut, OUT_PTR, OUT_SIZE, OUT_U32, takeOut } from "../runtime/memory";
import { setLastStatus } from "./status";

/** Registers a queue owned by the current root context; returns its id, or 0 on error. */
export function registerSharedQueue(name: string): u32 {
  const n = String.UTF8.encode(name);
  store<u32>(OUT_U32, 0);
  const status = proxy_register_shared_queue(changetype<usize>(n), n.byteLength, OUT_U32);
  setLastStatus(status);
  return status == WasmResult.Ok ? load<u32>(OUT_U32) : 0;
}

/** Finds a queue registered under `vmId`; returns its id, or 0 when absent or on error. */
export function resolveSharedQueue(vmId: string, name: string): u32 {
  const v = String.UTF8.encode(vmId);
  const n = String.UTF8.encode(name);
  store<u32>(OUT_U32, 0);
  const status = proxy_resolve_shared_queue(changetype<usize>(v), v.byteLength, changetype<usize>(n), n.byteLength, OUT_U32);
  setLastStatus(status);
  return status == WasmResult.Ok ? load<u32>(OUT_U32) : 0;
}

export function enqueueSharedQueue(queueId: u32, data: ArrayBuffer): WasmResult {
  return <WasmResult>proxy_enqueue_shared_queue(queueId, changetype<usize>(data), data.byteLength);
}

/** Next item, or null when the queue is empty (status Empty) or on error. */
export function dequeueSharedQueue(queueId: u32): ArrayBuffer | null {
  clearOut();
  const status = proxy_dequeue_shared_queue(queueId, OUT_PTR, OUT_SIZE);
  setLastStatus(status);
  const buf = takeOut();
  if (status != WasmResult.Ok) return null;
  if (buf === null) return new ArrayBuffer(0);
  return buf;
}
