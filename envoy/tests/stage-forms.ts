// The Wasm filter entries a stage that runs after the router is loaded as, in each form its case
// table runs in: one `ai-gateway` pipeline entry holding the router and the stage, the router and
// the stage as separate entries of one module (one vm_id), or the stage alone from its own module.
// host-tests/<filter>.test.ts builds the same in the emulator.

export type StageForm = "pipeline" | "separate" | "alone";

export interface FilterEntry {
  name: string;
  rootId: string;
  wasm: string;
  config: object;
}

/** `section` is the stage's key in the pipeline configuration, `rootId` its own root_id and module name. */
export function stageEntries(form: StageForm, stage: { section: string; rootId: string }, stageConfig: object, routerConfig: object): FilterEntry[] {
  if (form === "pipeline") {
    return [{ name: "ai-gateway", rootId: "ai-gateway", wasm: "build/ai-gateway.wasm", config: { model_router: routerConfig, [stage.section]: stageConfig } }];
  }
  if (form === "alone") return [{ name: stage.rootId, rootId: stage.rootId, wasm: `build/${stage.rootId}.wasm`, config: stageConfig }];
  return [
    { name: "model-router", rootId: "model-router", wasm: "build/ai-gateway.wasm", config: routerConfig },
    { name: stage.rootId, rootId: stage.rootId, wasm: "build/ai-gateway.wasm", config: stageConfig },
  ];
}
