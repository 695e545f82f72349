// Log lines as Envoy would write them. `proxy_log` and WASI fd_write (fd 1 at info, fd 2 at error,
// one trailing newline removed: cpp-host exports.cc writevImpl) go through the same filter as
// Envoy's ENVOY_LOG: a line below the current level is dropped. The emulator's own notes (traps,
// warnings about questionable ABI use) are kept at their level with source "emulator".

import { LOG_LEVELS, logLevelNumber, type LogLevelName } from "./types";

export type LogSource = "proxy_log" | "stdout" | "stderr" | "emulator";

export interface LogEntry {
  level: LogLevelName;
  message: string;
  source: LogSource;
  /** Label of the VM that wrote it ("" for the emulator itself). */
  vm: string;
  /** root_id of the plugin whose context wrote it, when known. */
  rootId: string;
  contextId: number;
  timeMs: number;
}

export interface LogQuery {
  /** Exactly this level. */
  level?: LogLevelName;
  /** This level or above. */
  minLevel?: LogLevelName;
  contains?: string | RegExp;
  source?: LogSource;
  vm?: string;
  rootId?: string;
}

export class LogSink {
  readonly entries: LogEntry[] = [];
  private threshold: number;

  constructor(level: LogLevelName) {
    this.threshold = logLevelNumber(level);
  }

  get level(): LogLevelName {
    return LOG_LEVELS[this.threshold];
  }

  set level(level: LogLevelName) {
    this.threshold = logLevelNumber(level);
  }

  /** Numeric level for `proxy_get_log_level` (spdlog order, as Envoy returns it). */
  get levelNumber(): number {
    return this.threshold;
  }

  enabled(level: number): boolean {
    return level >= this.threshold;
  }

  add(entry: LogEntry): void {
    if (entry.source !== "emulator" && !this.enabled(logLevelNumber(entry.level))) return;
    this.entries.push(entry);
  }

  query(q: LogQuery = {}): LogEntry[] {
    const min = q.minLevel === undefined ? -1 : logLevelNumber(q.minLevel);
    return this.entries.filter(
      (e) =>
        (q.level === undefined || e.level === q.level) &&
        logLevelNumber(e.level) >= min &&
        (q.source === undefined || e.source === q.source) &&
        (q.vm === undefined || e.vm === q.vm) &&
        (q.rootId === undefined || e.rootId === q.rootId) &&
        (q.contains === undefined ||
          (typeof q.contains === "string" ? e.message.includes(q.contains) : q.contains.test(e.message))),
    );
  }

  /** The last `n` lines, formatted for error messages. */
  tail(n: number): string {
    return this.entries
      .slice(-n)
      .map((e) => `[${e.level}]${e.vm ? ` ${e.vm}` : ""}${e.rootId ? ` ${e.rootId}` : ""}: ${e.message}`)
      .join("\n");
  }
}
