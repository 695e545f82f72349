// Envoy YAML templates: `${NAME}` or `${NAME:-default}` placeholders (valid YAML either way), filled
// in before Envoy sees the file. The harness always supplies ADMIN_PORT, LISTENER_PORT and
// WASM_DIR; tests add their own (UPSTREAM_PORT, FILTER_CONFIG, ...).
import { readFileSync } from "node:fs";
import { repoPath } from "./paths";

export type Vars = Record<string, string | number>;

// A default may nest braces two levels deep: ${FILTER_CONFIG:-"{}"}, ${ROUTE:-{"a": {"b": 1}}}.
const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)(?::-((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*))?\}/g;

export interface Placeholder {
  name: string;
  default?: string;
}

/** The placeholders a template uses, each once, in order of first use. */
export function placeholders(template: string): Placeholder[] {
  const seen = new Map<string, Placeholder>();
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!seen.has(m[1])) seen.set(m[1], m[2] === undefined ? { name: m[1] } : { name: m[1], default: m[2] });
  }
  return [...seen.values()];
}

/** Fills every placeholder; one without a value or a default is an error naming it. */
export function renderTemplate(template: string, vars: Vars): string {
  const missing = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_all, name: string, def: string | undefined) => {
    if (name in vars) return String(vars[name]);
    if (def !== undefined) return def;
    missing.add(name);
    return "";
  });
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
