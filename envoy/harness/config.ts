// Envoy YAML templates: `${NAME}` or `${NAME:-default}` placeholders (valid YAML either way), filled
// in before Envoy sees the file. The harness always supplies ADMIN_PORT, LISTENER_PORT and
// WASM_DIR; tests add their own (UPSTREAM_PORT, FILTER_CONFIG, ...).
import { readFileSync } from "node:fs";
import { repoPath } from "./paths";

export type Vars = Record<string, string | number>;

export interface Placeholder {
  name: string;
  default?: string;
}

interface Match extends Placeholder {
  start: number;
  end: number;
}

const NAME = /[A-Z][A-Z0-9_]*/y;

/**
 * The placeholders in `template`, in order. A default may hold braces nested to any depth as long
 * as they balance (a JSON filter configuration, `${ROUTER_CONFIG:-"{...}"}`); `${` followed by
 * anything else is left as it is.
 */
function scan(template: string): Match[] {
  const out: Match[] = [];
  for (let i = template.indexOf("${"); i >= 0; i = template.indexOf("${", i + 2)) {
    NAME.lastIndex = i + 2;
    const name = NAME.exec(template)?.[0];
    if (name === undefined) continue;
    let j = i + 2 + name.length;
    if (template[j] === "}") {
      out.push({ name, start: i, end: j + 1 });
      i = j - 1;
      continue;
    }
    if (!template.startsWith(":-", j)) continue;
    j += 2;
    const from = j;
    let depth = 0;
    for (; j < template.length; j++) {
      if (template[j] === "{") depth++;
      else if (template[j] === "}") {
        if (depth === 0) break;
        depth--;
      }
    }
    if (j >= template.length) continue;
    out.push({ name, default: template.slice(from, j), start: i, end: j + 1 });
    i = j - 1;
  }
  return out;
}

/** The placeholders a template uses, each once, in order of first use. */
export function placeholders(template: string): Placeholder[] {
  const seen = new Map<string, Placeholder>();
  for (const m of scan(template)) {
    if (!seen.has(m.name)) seen.set(m.name, m.default === undefined ? { name: m.name } : { name: m.name, default: m.default });
  }
  return [...seen.values()];
}

/** Fills every placeholder; one without a value or a default is an error naming it. */
export function renderTemplate(template: string, vars: Vars): string {
  const missing = new Set<string>();
  let out = "";
  let at = 0;
  for (const m of scan(template)) {
    out += template.slice(at, m.start);
    if (m.name in vars) out += String(vars[m.name]);
    else if (m.default !== undefined) out += m.default;
    else missing.add(m.name);
    at = m.end;
  }
  out += template.slice(at);
  if (missing.size > 0) throw new Error(`Envoy config template: no value for ${[...missing].map((n) => "${" + n + "}").join(", ")}`);
  return out;
}

/** A YAML double-quoted scalar holding `s` (JSON strings are valid YAML), e.g. a filter's JSON config. */
export function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** Reads a template from the repository (path relative to its root). */
export function readTemplate(file: string): string {
  return readFileSync(repoPath(file), "utf8");
}

/** The directory the user examples load modules from (the container images' layout). */
export const EXAMPLE_WASM_DIR = "/etc/envoy/wasm";

/**
 * Makes a user example (envoy/*.yaml, with fixed paths under /etc/envoy/wasm) loadable by an
 * Envoy process on this machine: module paths point into `wasmDir`.
 */
export function localizeExample(yaml: string, wasmDir: string): string {
  return yaml.split(EXAMPLE_WASM_DIR + "/").join(wasmDir.replace(/\/$/, "") + "/");
}
