// The filter's Envoy stats, defined in onConfigure (Envoy refuses definitions while the module
// starts). Labels live in the names as `.<label>=<value>` segments, which bootstrap `stats_tags`
// turn into tags; label values come only from the configuration and fixed lists, never from a
// request, so the number of stats is bounded by the configuration.

import { Metric, defineCounter } from "../../assembly/index";
import { ModelEntry } from "./resolve";
import { SOURCE_NAMES } from "./sources";

export const PREFIX = "model_router.";

// Error kinds: the `kind` label of model_router.errors and the index into RouterMetrics.errors.
export const ERR_MODEL_NOT_FOUND: i32 = 0;
export const ERR_VERSION_NOT_FOUND: i32 = 1;
export const ERR_MODEL_MISSING: i32 = 2;
export const ERR_INVALID_MODEL: i32 = 3;
export const ERR_INVALID_BODY: i32 = 4;
export const ERR_BODY_TOO_LARGE: i32 = 5;
export const ERR_NO_READY_VERSION: i32 = 6;
export const ERR_INTERNAL: i32 = 7;
export const ERROR_KINDS: string[] = [
  "model_not_found", "version_not_found", "model_missing", "invalid_model", "invalid_body",
  "body_too_large", "no_ready_version", "internal",
];

export class RouterMetrics {
  /** [model][version]: requests routed to that version. */
  requests: Metric[][] = [];
  /** [model][version]: requests that left that version (not ready or ramping) for a fallback. */
  fallbacks: Metric[][] = [];
  /** By SRC_*: which source named the model of a routed request. */
  sources: Metric[] = [];
  /** By ERR_*. */
  errors: Metric[] = [];
  /** GET /v1/models answered by the filter. */
  modelLists: Metric;

  constructor(models: ModelEntry[]) {
    this.modelLists = defineCounter(PREFIX + "model_lists");
    for (let m = 0; m < models.length; m++) {
      const model = unchecked(models[m]);
      const requests = new Array<Metric>();
      const fallbacks = new Array<Metric>();
      const versions = model.versions;
      for (let v = 0; v < versions.length; v++) {
        const labels = ".model=" + metricLabel(model.name) + ".version=" + metricLabel(unchecked(versions[v]).name);
        requests.push(defineCounter(PREFIX + "requests" + labels));
        fallbacks.push(defineCounter(PREFIX + "fallbacks" + labels));
      }
      this.requests.push(requests);
      this.fallbacks.push(fallbacks);
    }
    for (let i = 0; i < SOURCE_NAMES.length; i++) {
      this.sources.push(defineCounter(PREFIX + "source.source=" + unchecked(SOURCE_NAMES[i])));
    }
    for (let i = 0; i < ERROR_KINDS.length; i++) {
      this.errors.push(defineCounter(PREFIX + "errors.kind=" + unchecked(ERROR_KINDS[i])));
    }
  }

  routed(model: i32, version: i32, source: i32): void {
    count2(this.requests, model, version);
    if (source >= 0 && source < this.sources.length) unchecked(this.sources[source]).increment(1);
  }

  fellBack(model: i32, fromVersion: i32): void {
    count2(this.fallbacks, model, fromVersion);
  }

  error(kind: i32): void {
    if (kind >= 0 && kind < this.errors.length) unchecked(this.errors[kind]).increment(1);
  }
}

function count2(table: Metric[][], a: i32, b: i32): void {
  if (a < 0 || a >= table.length) return;
  const row = unchecked(table[a]);
  if (b >= 0 && b < row.length) unchecked(row[b]).increment(1);
}

/**
 * A name as a label value: characters other than letters, digits, '_' and '-' become '_', so a
 * `.` or `/` in a model name cannot split the stat name. (`llama-3.1` is reported as `llama-3_1`.)
 */
export function metricLabel(name: string): string {
  let out = "";
  let clean = true;
  for (let i = 0; i < name.length; i++) {
    if (!labelChar(name.charCodeAt(i))) {
      clean = false;
      break;
    }
  }
  if (clean) return name;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    out += labelChar(c) ? String.fromCharCode(c) : "_";
  }
  return out;
}

function labelChar(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d;
}
