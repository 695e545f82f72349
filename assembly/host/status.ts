// The status of the last host call made by a getter whose return value is the data itself
// (`string | null`, `ArrayBuffer | null`). Setters return their WasmResult directly. Reading the
// status is optional: null already means "nothing came back", and the status says why.

import { WasmResult } from "../abi/types";

let last: WasmResult = WasmResult.Ok;

// @ts-ignore: decorator
@inline
export function setLastStatus(status: u32): void {
  last = <WasmResult>status;
}

/** Status of the most recent getter's host call. */
export function lastStatus(): WasmResult {
  return last;
}
