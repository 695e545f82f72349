// Stages and the pipeline that runs them (see root.ts for the two deployment forms).
export { Exchange } from "./exchange";
export { NamedModel, Stage, StageAction, StageConfigResult, StageRoot } from "./stage";
export { Resumable } from "./action";
export { Chain, ChainSelector, PipelineStream } from "./pipeline";
export { PIPELINE_ROOT_ID, PipelineRoot, StageKind, registerStage } from "./root";
