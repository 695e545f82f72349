// `GET /v1/models` answered by the filter in OpenAI's list format (and `GET /v1/models/{id}`, one
// model's object, as OpenAI's retrieve), with each model's versions,
// their readiness (from the health cache) and its aliases. Cluster and upstream names stay
// private. With `list_models_hide_not_ready`, versions that are not ready (and aliases that point
// at them, and models left with no version) are left out.

import { JsonWriter } from "../../assembly/json/index";
import { healthStateName, RAMP_SCALE } from "../../assembly/health/record";
import { RouterConfig } from "./config";
import { HealthCache } from "./health";

export function modelList(cfg: RouterConfig, health: HealthCache): ArrayBuffer {
  const w = new JsonWriter(256 + cfg.models.length * 192);
  w.beginObject().stringField("object", "list").key("data").beginArray();
  for (let m = 0; m < cfg.models.length; m++) writeModel(w, cfg, health, m);
  w.endArray().endObject();
  return w.toArrayBuffer();
}

/**
 * `GET /v1/models/{id}` (OpenAI's retrieve): the list's object for model `m`, or null when the
 * list would leave it out (`list_models_hide_not_ready` and no version ready).
 */
export function modelObject(cfg: RouterConfig, health: HealthCache, m: i32): ArrayBuffer | null {
  const w = new JsonWriter(256);
  return writeModel(w, cfg, health, m) ? w.toArrayBuffer() : null;
}

/** Writes model `m`'s object; false (nothing written) when it is hidden. */
function writeModel(w: JsonWriter, cfg: RouterConfig, health: HealthCache, m: i32): bool {
  const hide = cfg.listModelsHideNotReady;
  const model = unchecked(cfg.models[m]);
  const states = health.healthOf(m);
  let anyReady = false;
  for (let v = 0; v < states.length; v++) if (unchecked(states[v]).readiness.ready) anyReady = true;
  if (hide && !anyReady) return false;

  w.beginObject()
    .stringField("id", model.name)
    .stringField("object", "model")
    .integerField("created", model.created)
    .stringField("owned_by", model.ownedBy)
    .boolField("ready", anyReady);
  w.key("versions").beginArray();
  for (let v = 0; v < model.versions.length && v < states.length; v++) {
    const h = unchecked(states[v]);
    if (hide && !h.readiness.ready) continue;
    w.beginObject()
      .stringField("id", unchecked(model.versions[v]).name)
      .stringField("state", healthStateName(h.state))
      .boolField("ready", h.readiness.ready)
      .integerField("weight", unchecked(model.versions[v]).weight)
      // A ramp is the part of its share a ready version takes; one that is not ready takes none
      // (warmup-health's endpoints say the same), whatever ramp its record or absence carries.
      .numberField("ramp", h.readiness.ready ? <f64>h.readiness.rampPermyriad / <f64>RAMP_SCALE : 0)
      .endObject();
  }
  w.endArray();
  w.key("aliases").beginObject();
  for (let a = 0; a < model.aliasNames.length; a++) {
    const target = unchecked(model.aliasTargets[a]);
    if (hide && (target >= states.length || !unchecked(states[target]).readiness.ready)) continue;
    w.stringField(unchecked(model.aliasNames[a]), unchecked(model.versions[target]).name);
  }
  w.endObject();
  w.endObject();
  return true;
}
