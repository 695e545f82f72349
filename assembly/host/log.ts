// Logging through `proxy_log`, so Envoy files each line under its own level and the `wasm` log
// component. The host's level is cached and refreshed when a root context is created, at ticks
// and queue wake-ups, and every 64th stream, which makes a disabled log call one integer
// comparison and keeps the host call off most requests. Callers that build a message by concatenation guard
// it with `logEnabled` so the string is never built when the level is off.

import { proxy_get_log_level, proxy_log } from "../abi/imports";
import { LogLevel, WasmResult } from "../abi/types";
import { OUT_U32 } from "../runtime/memory";

let currentLevel: u32 = LogLevel.Info;

/** Re-reads the host's log level (see the top of this file for when). */
export function refreshLogLevel(): void {
  store<u32>(OUT_U32, LogLevel.Info);
  if (proxy_get_log_level(OUT_U32) == WasmResult.Ok) currentLevel = load<u32>(OUT_U32);
}

/** True when a message at `level` would be written. */
// @ts-ignore: decorator
@inline
export function logEnabled(level: LogLevel): bool {
  return <u32>level >= currentLevel;
}

export function log(level: LogLevel, message: string): WasmResult {
  if (<u32>level < currentLevel) return WasmResult.Ok;
  const bytes = String.UTF8.encode(message);
  return proxy_log(level, changetype<usize>(bytes), bytes.byteLength);
}

export function logTrace(message: string): void { log(LogLevel.Trace, message); }
export function logDebug(message: string): void { log(LogLevel.Debug, message); }
export function logInfo(message: string): void { log(LogLevel.Info, message); }
export function logWarn(message: string): void { log(LogLevel.Warn, message); }
export function logError(message: string): void { log(LogLevel.Error, message); }
export function logCritical(message: string): void { log(LogLevel.Critical, message); }
