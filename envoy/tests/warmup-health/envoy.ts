// Helpers of the warmup-health tests through Envoy: the Envoy of one form (envoy.template.yaml
// with ../inference-cache/wasm-filter.template.yaml once per filter entry), the health endpoint's
// JSON, and requests counted by the server that answered them.
import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
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

/** One Wasm filter entry of an LDS listener (`writeLdsListener`). */
export interface LdsWasmEntry {
  /** The entry's `name`, its `root_id` and its module (build/<module>.wasm). */
  name: string;
  rootId: string;
  module: string;
  /** The plugin configuration (JSON-encoded into the entry). */
  configuration: object;
  /** `allow_on_headers_stop_iteration` and `failure_policy: FAIL_CLOSED` (body-reading entries). */
  bodyReading?: boolean;
}

/**
 * Writes listener `updated` on 127.0.0.1:`port` (route `route`, e.g. `{cluster: a}`; the Wasm
 * entries then the router, vm_id ai-gateway) as Envoy's file-based LDS picks it up: written
 * beside `file` and renamed over it.
 */
export function writeLdsListener(file: string, port: number, route: string, entries: LdsWasmEntry[]): void {
  const filters = entries.map((e) => `        - name: ${e.name}
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
            config:
              name: ${e.name}
              root_id: ${e.rootId}
${e.bodyReading ? "              allow_on_headers_stop_iteration: true\n              failure_policy: FAIL_CLOSED\n" : ""}              configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: ${JSON.stringify(JSON.stringify(e.configuration))}}
              vm_config: {vm_id: ai-gateway, runtime: envoy.wasm.runtime.v8, code: {local: {filename: ${path.resolve(`build/${e.module}.wasm`)}}}}
`).join("");
  const text = `resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: updated
  address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: updated
        route_config: {virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: "/"}, route: ${route}}]}]}
        http_filters:
${filters}        - name: envoy.filters.http.router
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
`;
  const tmp = path.join(path.dirname(file), "lds.tmp");
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * An Envoy bootstrap whose listener under test comes from file-based LDS (`ldsFile`, watched in
 * its folder; `writeLdsListener`), beside the harness's static listener (a TCP proxy to the first
 * cluster: the harness only needs its port), with static clusters on 127.0.0.1.
 */
export function ldsBootstrap(id: string, ldsFile: string, clusters: Array<{ name: string; port: number; connectTimeout: string }>): string {
  return `admin:
  address: {socket_address: {address: 127.0.0.1, port_value: \${ADMIN_PORT}}}
node: {id: ${id}, cluster: ${id}}
dynamic_resources:
  lds_config:
    resource_api_version: V3
    path_config_source: {path: ${ldsFile}, watched_directory: {path: ${path.dirname(ldsFile)}}}
static_resources:
  listeners:
  - name: static
    address: {socket_address: {address: 127.0.0.1, port_value: \${LISTENER_PORT}}}
    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: static, cluster: ${clusters[0].name}}}]}]
  clusters:
${clusters.map((c) => `  - {name: ${c.name}, type: STATIC, connect_timeout: ${c.connectTimeout}, load_assignment: {cluster_name: ${c.name}, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${c.port}}}}}]}]}}`).join("\n")}
`;
}
