// The two ways to load model-router, which must give the same answers (DESIGN.md, "Stages and
// the pipeline"): a filter entry of its own (`root_id: model-router`, its JSON configuration), or
// the one-entry pipeline (`root_id: ai-gateway`, the router's configuration under "model_router").

export type Form = "separate" | "pipeline";

/** The forms every router test runs in. */
export const FORMS: readonly Form[] = ["separate", "pipeline"];

export interface FilterEntry {
  /** The module, relative to the repository root. */
  wasm: string;
  rootId: string;
  /** The filter's configuration string. */
  configuration: string;
}

export function filterEntry(form: Form, routerConfig: object): FilterEntry {
  if (form === "separate") return { wasm: "build/model-router.wasm", rootId: "model-router", configuration: JSON.stringify(routerConfig) };
  return { wasm: "build/ai-gateway.wasm", rootId: "ai-gateway", configuration: JSON.stringify({ model_router: routerConfig }) };
}
