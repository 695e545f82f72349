// The filter's Envoy stats, defined in onConfigure (Envoy refuses definitions while the module
// starts). Labels live in the names as `.<label>=<value>` segments, which bootstrap `stats_tags`
// turn into tags; label values come only from the configuration and fixed lists, never from a
// request, so the number of stats is bounded by the configuration.

import { Metric, defineCounter, logWarn, metricLabel } from "../../assembly/index";
import { ModelEntry } from "./resolve";
import { ERRORS, ErrorKind } from "./errors";
import { SOURCE_COUNT, SOURCE_NAMES, Source } from "./sources";

export const PREFIX = "model_router.";


export class RouterMetrics {
  /**
   * [model][version * SOURCE_COUNT + source]: requests routed to that version whose model that
   * source named. One counter per routed request, not one per version and one per source: each
   * increment is a host call (about 1 k instructions in Envoy), and the per-version and
   * per-source totals are sums over the tags.
   */
  requests: Metric[][] = [];
  /** [model][version]: requests that left that version (not ready or ramping) for a fallback. */
  fallbacks: Metric[][] = [];
  /** By ErrorKind. */
  errors: Metric[] = [];
  /** GET /v1/models answered by the filter. */
  modelLists: Metric;

  constructor(models: ModelEntry[]) {
    this.modelLists = defineCounter(PREFIX + "model_lists");
    const clash = labelClash(models);
    if (clash.length > 0) logWarn("model_router: " + clash);
    for (let m = 0; m < models.length; m++) {
      const model = unchecked(models[m]);
      const requests = new Array<Metric>();
      const fallbacks = new Array<Metric>();
      const versions = model.versions;
      for (let v = 0; v < versions.length; v++) {
        const labels = ".model=" + metricLabel(model.name) + ".version=" + metricLabel(unchecked(versions[v]).name);
        for (let s = 0; s < SOURCE_COUNT; s++) {
          requests.push(defineCounter(PREFIX + "requests" + labels + ".source=" + unchecked(SOURCE_NAMES[s])));
        }
        fallbacks.push(defineCounter(PREFIX + "fallbacks" + labels));
      }
      this.requests.push(requests);
      this.fallbacks.push(fallbacks);
    }
    for (let i = 0; i < ERRORS.length; i++) {
      this.errors.push(defineCounter(PREFIX + "errors.kind=" + unchecked(ERRORS[i]).name));
    }
  }

  routed(model: i32, version: i32, source: Source): void {
    const s = <i32>source;
    if (version < 0 || s < 0 || s >= SOURCE_COUNT) return;
    count2(this.requests, model, version * SOURCE_COUNT + s);
  }

  fellBack(model: i32, fromVersion: i32): void {
    count2(this.fallbacks, model, fromVersion);
  }

  error(kind: ErrorKind): void {
    const k = <i32>kind;
    if (k >= 0 && k < this.errors.length) unchecked(this.errors[k]).increment(1);
  }
}

/**
 * The first two models (or two versions of one model) whose names become the same metric label
 * (`org/llama` and `org_llama` are both `org_llama`), as a warning; "" when every label is its
 * own. Their counters would add up under one tag without anything saying so. A warning, not a
 * refusal: routing is right either way.
 */
export function labelClash(models: ModelEntry[]): string {
  const seen = new Map<string, string>();
  for (let m = 0; m < models.length; m++) {
    const name = unchecked(models[m]).name;
    const label = metricLabel(name);
    if (seen.has(label)) return clashMessage("models", seen.get(label), name, "model=" + label);
    seen.set(label, name);
    const versions = unchecked(models[m]).versions;
    const seenVersions = new Map<string, string>();
    for (let v = 0; v < versions.length; v++) {
      const vname = unchecked(versions[v]).name;
      const vlabel = metricLabel(vname);
      if (seenVersions.has(vlabel)) return clashMessage("models." + name + " versions", seenVersions.get(vlabel), vname, "version=" + vlabel);
      seenVersions.set(vlabel, vname);
    }
  }
  return "";
}

function clashMessage(what: string, a: string, b: string, tag: string): string {
  return what + " \"" + a + "\" and \"" + b + "\" share the metric tag " + tag + ": their counters add up; rename one to tell them apart";
}

function count2(table: Metric[][], a: i32, b: i32): void {
  if (a < 0 || a >= table.length) return;
  const row = unchecked(table[a]);
  if (b >= 0 && b < row.length) unchecked(row[b]).increment(1);
}

