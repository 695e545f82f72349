// Prints the log of every Envoy that ran during a test when that test fails.
import { beforeEach } from "vitest";
import { isStopped, startedEnvoys, type Envoy } from "./envoy";

/** Extra log sources (e.g. a compose project) a test file registers for its failures. */
const extraSources: { name: string; logs: () => string | Promise<string> }[] = [];

/** Adds a log printed when a test fails; returns a function that removes it. */
export function addLogSource(name: string, logs: () => string | Promise<string>): () => void {
  const source = { name, logs };
  extraSources.push(source);
  return () => {
    const i = extraSources.indexOf(source);
    if (i >= 0) extraSources.splice(i, 1);
  };
}

export function tail(text: string, lines: number): string {
  const all = text.split("\n");
  return (all.length > lines ? `[... ${all.length - lines} earlier lines]\n` : "") + all.slice(-lines).join("\n");
}

/** Call once at the top of a test file: a failing test prints the last `lines` of each log. */
export function printEnvoyLogsOnFailure(lines = 200): void {
  beforeEach(({ onTestFailed }) => {
    const known = new Set<Envoy>(startedEnvoys());
    const runningAtStart = new Set<Envoy>([...known].filter((e) => !isStopped(e)));
    onTestFailed(async () => {
      for (const envoy of startedEnvoys()) {
        if (!runningAtStart.has(envoy) && known.has(envoy)) continue; // stopped before this test
        console.error(`--- ${envoy.runner} Envoy ${envoy.listenerUrl} log (full: ${envoy.logFile}) ---\n${tail(envoy.logs(), lines)}`);
      }
      for (const source of extraSources) {
        console.error(`--- ${source.name} log ---\n${tail(await source.logs(), lines)}`);
      }
    });
  });
}
