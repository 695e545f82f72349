// What a stage's request hook tells the pipeline (apart from stage.ts so that the Exchange, which
// resumes a paused chain, need not import the Stage).

export enum StageAction {
  /** Done with this phase: the next stage runs. */
  Continue,
  /** The whole request body is needed first: the pipeline buffers it, then calls onRequestBody. */
  NeedBody,
  /** The stage answered the request (local response): no later stage runs. */
  Stop,
  /**
   * The stage is waiting for something outside the request (an `http_call` it started with
   * `ex.httpCall`): Envoy keeps holding the request (and buffering its body) until the stage
   * calls `ex.resume(Continue)`, or `ex.resume(Stop)` after answering. Valid from onRequestHeaders
   * and onRequestBody.
   */
  Pause,
}

/** The pipeline as a paused stage sees it (PipelineStream implements it). */
export abstract class Resumable {
  abstract resume(action: StageAction): void;
}
