// Envoy's foreign functions: host extensions called by name.

import { proxy_call_foreign_function } from "../abi/imports";
import { WasmResult } from "../abi/types";
import { clearOut, OUT_PTR, OUT_SIZE, takeOut } from "../runtime/memory";
import { lastStatus, setLastStatus } from "./status";

/** Calls a host extension by name; null on error (NotFound for a function Envoy lacks). */
export function callForeignFunction(name: string, argument: ArrayBuffer): ArrayBuffer | null {
  const n = String.UTF8.encode(name);
  clearOut();
  const status = proxy_call_foreign_function(
    changetype<usize>(n), n.byteLength, changetype<usize>(argument), argument.byteLength, OUT_PTR, OUT_SIZE,
  );
  setLastStatus(status);
  const buf = takeOut();
  if (status != WasmResult.Ok) return null;
  return buf === null ? new ArrayBuffer(0) : buf;
}

/**
 * Makes Envoy pick the route again. Header writes from a 0.2.1 module already do this; call it
 * when routing depends on something else. (The ABI-0.1 import `proxy_clear_route_cache` would make
 * Envoy refuse the module.)
 */
export function clearRouteCache(): WasmResult {
  callForeignFunction("clear_route_cache", new ArrayBuffer(0));
  return lastStatus();
}
