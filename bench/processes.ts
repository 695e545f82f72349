// The Envoys a bench started: the harness spawns the binary (or a wrapper that execs it) as a
// direct child, so its pid is the child whose command matches.
import { readdirSync, readFileSync } from "node:fs";

/** Pids of this process's children whose command name (/proc/<pid>/stat) matches `comm`. */
export function childPids(comm: RegExp): Set<number> {
  const out = new Set<number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === process.pid && comm.test(name)) out.add(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}
