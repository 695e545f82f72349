// Helpers of the warmup-health tests through Envoy: the Envoy of one form (envoy.template.yaml
// with ../inference-cache/wasm-filter.template.yaml once per filter entry), the health endpoint's
// JSON, and requests counted by the server that answered them.
import { http1Request, readTemplate, renderTemplate, startEnvoy, yamlString, type Envoy, type HttpResponse } from "../../harness";

const TEMPLATE = readTemplate("envoy/tests/warmup-health/envoy.template.yaml");
const ENTRY = readTemplate("envoy/tests/inference-cache/wasm-filter.template.yaml");

/** "pipeline": one ai-gateway entry with both sections; "separate": warmup-health.wasm, then model-router.wasm, one vm_id. */
export type Form = "pipeline" | "separate";

export const CLUSTERS = ["llama-v1", "llama-v2", "iris-1", "iris-2"] as const;
export type Cluster = (typeof CLUSTERS)[number];

interface FilterEntry {
  name: string;
  rootId: string;
  wasm: string;
  config: object;
}

/** The Wasm filter entries of a form, in chain order (warmup-health first, README "In Envoy"). */
export function filterEntries(form: Form, health: object, router: object): FilterEntry[] {
  if (form === "pipeline") {
    return [{ name: "ai-gateway", rootId: "ai-gateway", wasm: "build/ai-gateway.wasm", config: { warmup_health: health, model_router: router } }];
  }
  return [
    { name: "warmup-health", rootId: "warmup-health", wasm: "build/warmup-health.wasm", config: health },
    { name: "model-router", rootId: "model-router", wasm: "build/model-router.wasm", config: router },
  ];
}

export function renderConfig(entries: FilterEntry[], ports: Partial<Record<Cluster, number>>, closedPort: number): string {
  const keep = { ADMIN_PORT: "${ADMIN_PORT}", LISTENER_PORT: "${LISTENER_PORT}", WASM_DIR: "${WASM_DIR}" };
  const filters = entries.map((e) =>
    renderTemplate(ENTRY, { ...keep, NAME: e.name, ROOT_ID: e.rootId, WASM_FILE: e.wasm.split("/").pop()!, FILTER_CONFIG: yamlString(JSON.stringify(e.config)) })
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => "          " + line)
      .join("\n"),
  );
  const vars: Record<string, string | number> = { ...keep, WASM_FILTERS: filters.join("\n") };
  for (const c of CLUSTERS) vars[`${c.toUpperCase().replace(/-/g, "_")}_PORT`] = ports[c] ?? closedPort;
  return renderTemplate(TEMPLATE, vars);
}

export interface HealthEnvoyOptions {
  form: Form;
  health: object;
  router: object;
  /** Port of each cluster's server; the others get `closedPort`. */
  ports: Partial<Record<Cluster, number>>;
  closedPort: number;
  name: string;
}

export function startHealthEnvoy(opts: HealthEnvoyOptions): Promise<Envoy> {
  const entries = filterEntries(opts.form, opts.health, opts.router);
  const config = renderConfig(entries, opts.ports, opts.closedPort);
  return startEnvoy({ runner: "process", concurrency: 2, name: opts.name, config, wasm: [...new Set(entries.map((e) => e.wasm))] });
}

/** One version or target of the health endpoint's JSON (plugins/warmup-health/README.md, Endpoints). */
export interface HealthEntry {
  model: string;
  version: string;
  cluster?: string;
  probe?: string;
  state: "unknown" | "loading" | "warming" | "ready" | "failing";
  ready: boolean;
  ramp: number;
  since: string | null;
  since_ms: number | null;
  reason: string;
  latency_ms?: number | null;
  checked?: string | null;
  checked_ms?: number | null;
  warmup?: { done: number; of: number };
}

export interface Health {
  versions: HealthEntry[];
  targets: HealthEntry[];
  ready: boolean;
}

export async function health(base: string, path = ""): Promise<{ status: number; body: Health; res: HttpResponse }> {
  const res = await http1Request(base, { path: `/ai-gateway/health${path}` });
  return { status: res.status, body: JSON.parse(res.text) as Health, res };
}

/** The version entry of `model`/`version` in the whole list. */
export async function versionState(base: string, model: string, version: string): Promise<HealthEntry> {
  const { body } = await health(base);
  const entry = body.versions.find((v) => v.model === model && v.version === version);
  if (entry === undefined) throw new Error(`no ${model}/${version} in ${JSON.stringify(body)}`);
  return entry;
}

/** A state seen by watchVersion: when it was first seen (ms after the watch began) and when the last poll that saw it started (epoch ms). */
export interface Seen {
  state: string;
  ramp: number;
  atMs: number;
  lastPolledAt: number;
  entry: HealthEntry;
}

/**
 * Polls the health list until `model`/`version` satisfies `until`; returns every distinct state
 * seen on the way, the last one included. A request that ended before a poll started was routed
 * on records no newer than what that poll saw.
 */
export async function watchVersion(base: string, model: string, version: string, until: (e: HealthEntry) => boolean, timeoutMs = 30_000): Promise<Seen[]> {
  const start = Date.now();
  const seen: Seen[] = [];
  for (;;) {
    const polledAt = Date.now();
    const entry = await versionState(base, model, version);
    const last = seen.at(-1);
    if (last?.state !== entry.state) seen.push({ state: entry.state, ramp: entry.ramp, atMs: Date.now() - start, lastPolledAt: polledAt, entry });
    else Object.assign(last, { ramp: entry.ramp, lastPolledAt: polledAt, entry });
    if (until(entry)) return seen;
    if (Date.now() - start > timeoutMs) throw new Error(`${model}/${version} did not get there in ${timeoutMs} ms; seen ${JSON.stringify(seen.map((s) => s.state))}, last ${JSON.stringify(entry)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}
