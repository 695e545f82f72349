// warmup-health as a pipeline stage. The root (one per configured filter in each worker's VM)
// owns the prober (prober.ts): on ticks, the one root that holds the lease probes every target
// and publishes its record and its version's record (the one model-router reads). The stage
// answers the health endpoints (endpoints.ts) from those records in shared data, so every worker
// answers alike; every other request passes untouched. It runs first in the chain (order 5), so
// the endpoints answer before the router would route or refuse them.

import { HeaderPair, getSharedData, nowMillis, sendLocalResponse } from "../../assembly/index";
import { decodeHealthRecord, HealthRecord } from "../../assembly/health/record";
import { decodeTargetRecord, TargetRecord } from "../../assembly/health/target";
import { JsonValue } from "../../assembly/json/index";
import { Exchange, NamedModel, Stage, StageAction, StageConfigResult, StageKind, StageRoot, registerStage } from "../../assembly/pipeline/index";
import { BLANK_EXPECTATION, HealthConfig, PROBING_KEYS, parseHealthConfig } from "./config";
import { matchPath, methodNotAllowed, reply, Reply, Scope } from "./endpoints";
import { HealthMetrics } from "./metrics";
import { Prober } from "./prober";

export const ROOT_ID = "warmup-health";
export const SECTION = "warmup_health";
/** Before model-router (10): the endpoints are answered before any routing. */
export const ORDER: i32 = 5;

class HealthKind extends StageKind {
  /**
   * Every probing setting: one prober per Envoy writes the target records that every route's
   * router reads, so a route with other targets or timing would run a second prober over the
   * same records, each with its own schedule and ramp (twice the probes, a ramp that jumps
   * between the two). A route may turn the endpoints off or move them (`path_prefix`).
   */
  fixedAcrossRoutes(): string[] {
    return PROBING_KEYS;
  }

  sharedAcrossRoutes(): string {
    return "the one prober per Envoy and its records";
  }

  configure(config: JsonValue): StageConfigResult {
    const result = parseHealthConfig(config);
    const cfg = result.config;
    if (cfg === null) return new StageConfigResult(null, result.error);
    return new StageConfigResult(new HealthRoot(cfg), "");
  }
}

export class HealthRoot extends StageRoot {
  readonly metrics: HealthMetrics;
  readonly prober: Prober;

  constructor(readonly cfg: HealthConfig) {
    super();
    const metrics = new HealthMetrics(cfg);
    this.metrics = metrics;
    this.prober = new Prober(cfg, metrics);
  }

  newStage(): Stage {
    return new HealthStage(this);
  }

  namedModels(): NamedModel[] {
    const out = new Array<NamedModel>();
    const targets = this.cfg.targets;
    for (let i = 0; i < targets.length; i++) {
      const t = unchecked(targets[i]);
      out.push(new NamedModel("targets[" + i.toString() + "]", t.model, t.versionName));
    }
    return out;
  }

  onConfigured(): void {
    // Calls are made for this root context: their answers come back to it, whatever stream runs.
    this.prober.contextId = this.rootContextId;
    this.prober.publishInitial();
  }

  tickPeriodMs(): u32 {
    return this.cfg.tickMs;
  }

  onTick(): void {
    this.prober.onTick();
  }
}

class HealthStage extends Stage {
  constructor(private root: HealthRoot) {
    super();
  }

  onRequestHeaders(ex: Exchange, endOfStream: bool): StageAction {
    const cfg = this.root.cfg;
    if (cfg.pathPrefix.length == 0) return StageAction.Continue;
    const m = matchPath(cfg, ex.path());
    if (m.scope == Scope.None) return StageAction.Continue;
    const method = ex.method();
    let r: Reply;
    let details: string;
    if (method != "GET" && method != "HEAD") {
      r = methodNotAllowed(method);
      details = "warmup_health.method_not_allowed";
    } else {
      r = reply(cfg, m, versionRecords(cfg), targetRecords(cfg), nowMillis());
      details = r.status == 404 ? "warmup_health.not_found" : "warmup_health.health";
    }
    this.root.metrics.answered(r.status);
    const headers: HeaderPair[] = [new HeaderPair("content-type", "application/json"), new HeaderPair("cache-control", "no-store")];
    if (r.status == 405) headers.push(new HeaderPair("allow", "GET, HEAD"));
    sendLocalResponse(r.status, details, r.body, headers);
    return StageAction.Stop;
  }
}

function versionRecords(cfg: HealthConfig): Array<HealthRecord | null> {
  const out = new Array<HealthRecord | null>();
  for (let g = 0; g < cfg.versions.length; g++) {
    const sv = getSharedData(unchecked(cfg.versions[g]).key);
    out.push(sv.found ? decodeHealthRecord(sv.value) : null);
  }
  return out;
}

function targetRecords(cfg: HealthConfig): Array<TargetRecord | null> {
  const out = new Array<TargetRecord | null>();
  for (let i = 0; i < cfg.targets.length; i++) {
    const sv = getSharedData(unchecked(cfg.targets[i]).key);
    out.push(sv.found ? decodeTargetRecord(sv.value) : null);
  }
  return out;
}

export function register(): void {
  registerStage(new HealthKind(SECTION, ROOT_ID, ORDER, BLANK_EXPECTATION));
}
