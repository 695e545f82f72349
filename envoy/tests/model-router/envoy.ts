// Starts Envoy with envoy.template.yaml for the model-router tests: the router in one form
// (host-tests/model-router/forms.ts) with its configuration, each cluster on a given port.
import { readTemplate, startEnvoy, yamlString, type Envoy, type Runner, type Vars } from "../../harness";
import { filterEntry, type Form } from "../../../host-tests/model-router/forms";
import { HEALTH_WRITER_WASM, buildHealthWriter } from "../../../host-tests/model-router/build";

export const TEMPLATE = readTemplate("envoy/tests/model-router/envoy.template.yaml");

/** The template's port placeholder for a cluster: "llama-v1" → LLAMA_V1_PORT. */
export function clusterPortVar(cluster: string): string {
  return `${cluster.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PORT`;
}

export interface RouterEnvoyOptions {
  runner: Runner;
  form: Form;
  /** The router's configuration (the form decides how it is wrapped). */
  routerConfig: object;
  /** Port of each cluster the template defines. */
  clusterPorts: Record<string, number>;
  /** Names the log file. */
  name: string;
  /** Load this module instead of the form's (e.g. build/ai-gateway.wasm for root_id model-router). */
  wasm?: string;
  /** warmup-health's configuration: it publishes readiness instead of the test-only health writer. */
  warmupHealth?: object;
}

/** The template's variables for one router filter entry and the clusters' ports. */
export function routerVars(opts: Omit<RouterEnvoyOptions, "runner" | "name">): { vars: Vars; wasm: string[] } {
  const entry = filterEntry(opts.form, opts.routerConfig);
  const module = opts.wasm ?? entry.wasm;
  const vars: Vars = { ROOT_ID: entry.rootId, FILTER_CONFIG: yamlString(entry.configuration), WASM_FILE: module.split("/").pop()! };
  for (const [cluster, port] of Object.entries(opts.clusterPorts)) vars[clusterPortVar(cluster)] = port;
  if (opts.warmupHealth === undefined) return { vars, wasm: [module, HEALTH_WRITER_WASM] };
  vars.HEALTH_ROOT_ID = "warmup-health";
  vars.HEALTH_WASM = "warmup-health.wasm";
  vars.HEALTH_CONFIG = yamlString(JSON.stringify(opts.warmupHealth));
  return { vars, wasm: [module, "build/warmup-health.wasm"] };
}

export async function startRouterEnvoy(opts: RouterEnvoyOptions): Promise<Envoy> {
  const { vars, wasm } = routerVars(opts);
  // The health-writer fixture is a test build, not `npm run build`'s: built here (once per test
  // process) so that no test file depends on another having built it first.
  if (wasm.includes(HEALTH_WRITER_WASM)) await buildHealthWriter();
  return startEnvoy({ runner: opts.runner, name: opts.name, config: TEMPLATE, vars, wasm });
}
