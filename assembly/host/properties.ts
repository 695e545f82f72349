// Envoy attributes (`request.path`, `plugin_root_id`, `node.id`, ...). A property path travels as
// its segments joined by NUL bytes.

import { proxy_get_property, proxy_set_property } from "../abi/imports";
import { WasmResult } from "../abi/types";
import { clearOut, OUT_PTR, OUT_SIZE, takeOut } from "../runtime/memory";
import { setLastStatus } from "./status";

function encodePath(path: string[]): ArrayBuffer {
  return String.UTF8.encode(path.join("\0"));
}

/** Raw bytes of a property, or null when absent or on a host error. */
export function getProperty(path: string[]): ArrayBuffer | null {
  const key = encodePath(path);
  clearOut();
  const status = proxy_get_property(changetype<usize>(key), key.byteLength, OUT_PTR, OUT_SIZE);
  setLastStatus(status);
  const buf = takeOut();
  if (status != WasmResult.Ok) return null;
  if (buf === null) return new ArrayBuffer(0);
  return buf;
}

/** A string-valued property decoded as UTF-8, or null. */
export function getPropertyString(path: string[]): string | null {
  const bytes = getProperty(path);
  return bytes === null ? null : String.UTF8.decode(bytes);
}

export function setProperty(path: string[], value: ArrayBuffer): WasmResult {
  const key = encodePath(path);
  return <WasmResult>proxy_set_property(changetype<usize>(key), key.byteLength, changetype<usize>(value), value.byteLength);
}

/** Whether the property at the path (segments joined by NUL, as bytes in place) exists. */
export function hasPropertyRaw(pathPtr: usize, pathLen: usize): bool {
  clearOut();
  const status = proxy_get_property(pathPtr, pathLen, OUT_PTR, OUT_SIZE);
  setLastStatus(status);
  takeOut();
  return status == WasmResult.Ok;
}

/** `setProperty` with the path (segments joined by NUL) and value as bytes in place. */
export function setPropertyRaw(pathPtr: usize, pathLen: usize, valuePtr: usize, valueLen: usize): WasmResult {
  return <WasmResult>proxy_set_property(pathPtr, pathLen, valuePtr, valueLen);
}
