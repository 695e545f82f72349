// Replaces AssemblyScript's `abort` (which would import `env.abort`, a function Envoy does not
// provide). It can only be reached by a bug such as an out-of-bounds array index; it logs where,
// at critical level, so the Envoy log says why the VM is about to trap, then traps.

import { proxy_log } from "../abi/imports";
import { LogLevel } from "../abi/types";

export function abortWithLog(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "ai-gateway-wasm: abort";
  if (message !== null) text += ": " + message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  proxy_log(LogLevel.Critical, changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}
