// A stage is one filter's per-request logic, with the hooks of an HTTP context but working on
// the request's Exchange. The pipeline (pipeline.ts) drives the stages of a request in chain
// order and owns the ABI contract: holding headers, buffering the body, local responses,
// continuing once. A stage never returns a filter status; it says what it needs.

import { StageAction } from "./action";
import { Exchange } from "./exchange";

export { StageAction };

/** Per-request logic of one filter. Every hook defaults to letting the request through. */
export class Stage {
  /** The request headers (still held, so writable). `endOfStream`: the request has no body. */
  onRequestHeaders(ex: Exchange, endOfStream: bool): StageAction {
    return StageAction.Continue;
  }

  /** The body this stage asked for is complete (`ex.body()`); the headers are still held. */
  onRequestBody(ex: Exchange): StageAction {
    return StageAction.Continue;
  }

  /** Largest body this stage waits for; beyond it `onBodyTooLarge` decides. */
  maxBodyBytes(): u32 {
    return 1 << 20;
  }

  /**
   * The body grew past `maxBodyBytes` (`size` bytes received so far). Stop after answering
   * (e.g. 413), or Continue to go on without the body.
   */
  onBodyTooLarge(ex: Exchange, size: i64): StageAction {
    return StageAction.Continue;
  }

  /** Response headers; also runs for a local reply (`ex.localReply`). Responses are never held. */
  onResponseHeaders(ex: Exchange, endOfStream: bool): void {}

  /**
   * One chunk of the response body (not cumulative: the pipeline never buffers responses). A
   * response that ends with trailers ends with an empty chunk at endOfStream.
   */
  onResponseBody(ex: Exchange, chunkSize: u32, endOfStream: bool): void {}

  /** Access-log time: the request is over (completed, refused or abandoned). */
  onLog(ex: Exchange): void {}
}

/**
 * One filter's configured state (configuration, metrics, caches) in one root context. It makes
 * the stage of each request. `section` is its key in the pipeline's configuration (`model_router`),
 * `rootId` its root_id as a separate filter entry (`model-router`).
 */
export class StageRoot {
  /**
   * Id of the root context that runs this stage (set when it is configured). An `http_call` made
   * for it (not for one request) answers there and outlives every stream.
   */
  rootContextId: u32 = 0;

  newStage(): Stage {
    return new Stage();
  }

  /**
   * The stage for the next request of a pooled stream whose last request ran `previous`, a stage
   * this root made, whose request is over. A new one unless the stage kind says otherwise: a root
   * whose stages nothing outlives (no http_call, no pause) may hand `previous` back in its
   * constructor's state, so that a request allocates nothing.
   */
  renewStage(previous: Stage): Stage {
    return this.newStage();
  }

  /** Whether its stages' response hooks do anything; the pipeline skips them for those that don't. */
  seesResponse(): bool {
    return false;
  }

  /**
   * The whole filter configuration was accepted (every stage's, every route's) and this root is
   * in force: publish initial shared state. Runs in onConfigure, so also in Envoy's
   * throw-away canary VM: no HTTP calls here.
   */
  onConfigured(): void {}

  /**
   * How often this root wants `onTick`, in ms (0: never). Read once, after `onConfigured`; the
   * pipeline's root context arms its one tick for every stage root it runs (ticks.ts).
   */
  tickPeriodMs(): u32 {
    return 0;
  }

  onTick(): void {}

  /**
   * The models (and versions) this stage's configuration names, to be checked against the
   * router's when both are in one pipeline: a name the router lacks never comes from it.
   */
  namedModels(): NamedModel[] {
    return [];
  }

  /**
   * A warning for a pipeline without the router, which refuses what no stage can tell the model
   * of (a body over its limit, too deep, not JSON): what such requests do in this stage, when the
   * operator would want to know; "" when nothing.
   */
  withoutRouterWarning(): string {
    return "";
  }

  /** Whether the stage routes to `model` (and `version`, when not ""): the router's. True for stages that route nothing. */
  routesTo(model: string, version: string): bool {
    return true;
  }
}

/** A model (and version) a stage's configuration names, at `field` (relative to its section). */
export class NamedModel {
  constructor(public field: string, public model: string, public version: string) {}
}

/** The outcome of configuring a stage: a StageRoot, or one message naming field, value and expectation. */
export class StageConfigResult {
  constructor(public root: StageRoot | null, public error: string) {}
}
