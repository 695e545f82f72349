// The pipeline: one HTTP context that drives the stages of a request in chain order over one
// Exchange, and owns the ABI contract for all of them.
//
// Request path: each stage's onRequestHeaders runs in order while Envoy holds the headers
// (StopIteration, which needs `allow_on_headers_stop_iteration: true` on the filter entry). A
// stage that needs the body makes the pipeline buffer it (StopIterationAndBuffer until end of
// stream, or the trailers); the body is read from Envoy once, the stage's onRequestBody runs, and
// the next stage's onRequestHeaders follows, so later stages see what earlier ones resolved.
// Continue is returned once, when every stage is done; after a stage's local response the
// pipeline returns a stop status and runs no later stage. A request whose headers end the stream
// never waits, nor does an upgrade or a CONNECT (its bytes are a tunnel's, not a body).
//
// Response path: stages that see responses run in reverse chain order, as separate Envoy filter
// entries would, and only those whose request hooks ran. The pipeline never buffers responses.

import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, BufferType } from "../abi/types";
import { HttpContext } from "../context/http-context";
import { bufferLength } from "../host/buffers";
import { logWarn } from "../host/log";
import { continueRequest } from "../host/stream";
import { Resumable } from "./action";
import { Exchange } from "./exchange";
import { Stage, StageAction, StageRoot } from "./stage";

// What `advance` reached.
enum Progress { Done, WaitingForBody, Stopped, Paused }

/** The stages of one chain (the configured one, or a route's variant of it). */
export class Chain {
  /** Whether any stage has response hooks; false skips the response callbacks at once. */
  readonly seesResponse: bool;
  /** By stage: whether its response hooks run. */
  readonly responseStages: bool[];

  /**
   * @param dropsClientModel an `ai-gateway` chain of stages none of which resolves the model (no
   *   router in the configuration, or a route that turns it off): the client's `x-ai-model`,
   *   `x-ai-model-version` and `x-ai-tenant` are removed before the stages run, since no router
   *   of ours set them.
   * @param checksRouterMark a separate entry (`root_id: <filter>`) of a stage other than the router:
   *   it cannot tell the router's x-ai-* headers from a client's, so it keeps them only when a
   *   router before it marked the stream (Exchange.markRouted), and removes them otherwise.
   */
  constructor(public readonly roots: StageRoot[], public readonly dropsClientModel: bool = false, public readonly checksRouterMark: bool = false) {
    let sees = false;
    const each = new Array<bool>(roots.length);
    for (let i = 0; i < roots.length; i++) {
      const s = unchecked(roots[i]).seesResponse();
      unchecked((each[i] = s));
      if (s) sees = true;
    }
    this.seesResponse = sees;
    this.responseStages = each;
  }
}

/** Picks the chain of a request (per-route settings); null keeps the configured chain. */
export class ChainSelector {
  select(): Chain | null {
    return null;
  }
}

/** Most ended streams a pool keeps: enough for the streams one worker has in flight. */
const POOL_MAX: i32 = 256;

/**
 * Ended streams of one root context, reused for later streams so that a request allocates no
 * stream, Exchange or stage list. Each stage starts in its constructor's state: a new object, or
 * the last request's, renewed by its root (StageRoot.renewStage).
 */
export class StreamPool {
  private free: PipelineStream[] = [];
  /** The root id the pool's streams run under, for their log lines. */
  rootId: string = "";
  /** Whether a stream of this root has logged that Envoy withheld its body (once a root). */
  warnedBodyWithheld: bool = false;

  take(id: u32, chain: Chain, selector: ChainSelector | null): PipelineStream {
    const free = this.free;
    if (free.length == 0) return new PipelineStream(id, chain, selector, this);
    const s = free.pop();
    s.reuse(id, chain, selector);
    return s;
  }

  put(stream: PipelineStream): void {
    if (this.free.length < POOL_MAX) this.free.push(stream);
  }
}

export class PipelineStream extends HttpContext {
  readonly ex: Exchange = new Exchange();
  private stages: Stage[] = NO_STAGES;
  /** The chain `stages`' array was made for (its length). */
  private stagesOf: Chain | null = null;
  /** Index of the stage being run or waited for. */
  private next: i32 = 0;
  /** Stages whose request hooks ran; their response and log hooks run. */
  private started: i32 = 0;
  /** Stage `next` returned NeedBody and the body is not complete yet. */
  private awaitingBody: bool = false;
  /** Stage `next` returned Pause and has not resumed the chain yet. */
  private paused: bool = false;
  /** Envoy called onRequestBody or onRequestTrailers on this request. */
  private sawBodyCallback: bool = false;
  private readonly resumer: StreamResumer = new StreamResumer(this);

  constructor(id: u32, private chain: Chain, private selector: ChainSelector | null, private pool: StreamPool | null = null) {
    super(id);
  }

  /** Makes an ended (and reset) stream the context of stream `id` (see StreamPool). */
  reuse(id: u32, chain: Chain, selector: ChainSelector | null): void {
    this.id = id;
    this.chain = chain;
    this.selector = selector;
    this.next = 0;
    this.started = 0;
    this.awaitingBody = false;
    this.paused = false;
    this.sawBodyCallback = false;
  }

  onDelete(): void {
    const pool = this.pool;
    if (pool === null) return;
    if (this.awaitingBody && !this.sawBodyCallback && !pool.warnedBodyWithheld) warnBodyWithheld(pool);
    // Let go of the request's buffers now: a pooled stream keeps only small ones for reuse (its
    // header views' maps up to 4 KiB each, body and response-chunk buffers up to 4 KiB each).
    this.ex.reset();
    pool.put(this);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    const selector = this.selector;
    if (selector !== null) {
      const picked = selector.select();
      if (picked !== null) this.chain = picked;
    }
    // This request's stages, in an array kept from the stream's previous request when it ran the
    // same chain; each root then renews its stage of that request (StageRoot.renewStage).
    const chain = this.chain;
    const roots = chain.roots;
    if (this.stagesOf !== chain) {
      const stages = new Array<Stage>(roots.length);
      for (let i = 0; i < roots.length; i++) unchecked((stages[i] = unchecked(roots[i]).newStage()));
      this.stages = stages;
      this.stagesOf = chain;
    } else {
      const stages = this.stages;
      for (let i = 0; i < roots.length; i++) unchecked((stages[i] = unchecked(roots[i]).renewStage(unchecked(stages[i]))));
    }
    this.ex.streamId = this.id;
    // What follows an upgrade's or a CONNECT's headers is a tunnel's bytes, not a body: waiting for
    // its end would hold the tunnel until a timeout.
    const tunnel = !endOfStream && opensTunnel(this.ex);
    this.ex.tunnel = tunnel;
    this.ex.headersEndStream = endOfStream || tunnel;
    if (chain.dropsClientModel) {
      this.ex.removeModelHeaders();
    } else if (chain.checksRouterMark) {
      this.ex.dropUnroutedModelHeaders();
    }
    return this.advance() == Progress.Done ? FilterHeadersStatus.Continue : FilterHeadersStatus.StopIteration;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    this.sawBodyCallback = true;
    if (this.paused) {
      // Envoy keeps the body while a stage waits; the chain goes on with it when it resumes.
      this.ex.bodySize = bodySize;
      if (endOfStream) this.ex.completeBody(bodySize);
      return FilterDataStatus.StopIterationAndBuffer;
    }
    if (!this.awaitingBody) return FilterDataStatus.Continue;
    const ex = this.ex;
    ex.bodySize = bodySize;
    const stage = unchecked(this.stages[this.next]);
    if (bodySize > stage.maxBodyBytes()) {
      // Too large for the stage waiting for it: it answers or goes on without the body.
      this.awaitingBody = false;
      if (stage.onBodyTooLarge(ex, <i64>bodySize) == StageAction.Stop) return this.stopped();
      // At the end of the stream no later body callback comes: later stages get it as it is.
      if (endOfStream) ex.completeBody(bodySize);
      this.next++;
      return dataStatus(this.advance());
    }
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    this.ex.completeBody(bodySize);
    return dataStatus(this.advance());
  }

  /** A body followed by trailers ends here: the last body call had no end of stream. */
  onRequestTrailers(numTrailers: u32): FilterTrailersStatus {
    this.sawBodyCallback = true;
    if (this.paused) {
      const size = bufferLength(BufferType.HttpRequestBody);
      this.ex.completeBody(size < 0 ? 0 : <u32>size);
      return FilterTrailersStatus.StopIteration;
    }
    if (!this.awaitingBody) return FilterTrailersStatus.Continue;
    const size = bufferLength(BufferType.HttpRequestBody);
    const stage = unchecked(this.stages[this.next]);
    if (size > <i64>stage.maxBodyBytes()) {
      this.awaitingBody = false;
      if (stage.onBodyTooLarge(this.ex, size) == StageAction.Stop) {
        this.ex.localReply = true;
        return FilterTrailersStatus.StopIteration;
      }
      this.next++;
    }
    return this.bodyComplete(size < 0 ? 0 : <u32>size) ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    if (!this.chain.seesResponse) return FilterHeadersStatus.Continue;
    this.ex.loadResponseStatus();
    const stages = this.stages;
    const sees = this.chain.responseStages;
    for (let i = this.started - 1; i >= 0; i--) {
      if (unchecked(sees[i])) unchecked(stages[i]).onResponseHeaders(this.ex, endOfStream);
    }
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (!this.chain.seesResponse) return FilterDataStatus.Continue;
    const stages = this.stages;
    const sees = this.chain.responseStages;
    this.ex.forgetChunk();
    for (let i = this.started - 1; i >= 0; i--) {
      if (unchecked(sees[i])) unchecked(stages[i]).onResponseBody(this.ex, bodySize, endOfStream);
    }
    // The chunk is this call's only: the collection after it may take it.
    this.ex.forgetChunk();
    return FilterDataStatus.Continue;
  }

  /**
   * A response that ends with trailers (HTTP/2, chunked HTTP/1.1): its last body call had no end
   * of stream, so the stages get the end here, as an empty last chunk.
   */
  onResponseTrailers(numTrailers: u32): FilterTrailersStatus {
    if (!this.chain.seesResponse) return FilterTrailersStatus.Continue;
    const stages = this.stages;
    const sees = this.chain.responseStages;
    this.ex.forgetChunk();
    for (let i = this.started - 1; i >= 0; i--) {
      if (unchecked(sees[i])) unchecked(stages[i]).onResponseBody(this.ex, 0, true);
    }
    this.ex.forgetChunk();
    return FilterTrailersStatus.Continue;
  }

  onLog(): void {
    const stages = this.stages;
    for (let i = this.started - 1; i >= 0; i--) unchecked(stages[i]).onLog(this.ex);
  }

  /** The body is complete: let the chain go on. False after a local response or a pause. */
  private bodyComplete(size: u32): bool {
    this.ex.completeBody(size);
    return this.advance() == Progress.Done;
  }

  /**
   * The paused stage is done waiting (`ex.resume`): Stop means it answered; anything else runs the
   * rest of the chain and lets Envoy go on with the request once every stage is done.
   */
  resume(action: StageAction): void {
    if (!this.paused) return;
    this.paused = false;
    if (action == StageAction.Stop) {
      this.ex.localReply = true;
      return;
    }
    this.next++;
    // Done: Envoy continues. WaitingForBody: the rest of the body comes to onRequestBody, which
    // goes on from there. Paused or Stopped: a later stage waits or answered.
    if (this.advance() == Progress.Done) continueRequest();
  }

  private stopped(): FilterDataStatus {
    this.ex.localReply = true;
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /** Runs the chain from stage `next` until it is done, waits for the body, or a stage answers. */
  private advance(): Progress {
    const ex = this.ex;
    const stages = this.stages;
    while (this.next < stages.length) {
      const stage = unchecked(stages[this.next]);
      let action: StageAction;
      if (this.awaitingBody) {
        this.awaitingBody = false;
        action = deliverBody(stage, ex);
      } else {
        this.started = this.next + 1;
        action = stage.onRequestHeaders(ex, ex.headersEndStream);
        if (action == StageAction.NeedBody) {
          if (ex.headersEndStream && !ex.bodyComplete) ex.completeBody(0);
          if (!ex.bodyComplete) {
            this.awaitingBody = true;
            return Progress.WaitingForBody;
          }
          action = deliverBody(stage, ex);
        }
      }
      if (action == StageAction.Stop) {
        ex.localReply = true;
        return Progress.Stopped;
      }
      if (action == StageAction.Pause) {
        this.paused = true;
        ex.resumer = this.resumer;
        return Progress.Paused;
      }
      this.next++;
    }
    return Progress.Done;
  }
}

const NO_STAGES = new Array<Stage>(0);

/**
 * A CONNECT, or a request asking for an upgrade (a WebSocket, over HTTP/1.1 or over HTTP/2, which
 * Envoy hands to filters in the HTTP/1.1 form). Envoy removes `upgrade` from a request without
 * `connection: upgrade` (and an h2c upgrade), and answers 403 itself, before any filter, to an
 * upgrade or CONNECT the connection manager does not allow; so a request that reaches us with
 * `upgrade` is a tunnel whatever the method: its stream does not end where a body would. A tunnel
 * that declares a body anyway is token-bucket's to refuse (it would pass unread, uncounted).
 */
function opensTunnel(ex: Exchange): bool {
  return ex.hasRequestHeader("upgrade") || ex.method() == "CONNECT";
}

/**
 * A stream ended while a stage waited for its body, and Envoy called no body callback at all.
 * That is what an entry without `allow_on_headers_stop_iteration: true` does to every request
 * with a body (Envoy turns the headers' StopIteration into "stop all" and keeps the body from
 * the filter), and the client sees only a hang; a client that sends headers and goes away does
 * it too, hence "if". Once a root (a worker's VM): under the misconfiguration it is every request.
 */
function warnBodyWithheld(pool: StreamPool): void {
  pool.warnedBodyWithheld = true;
  logWarn(pool.rootId + ": a request ended while the filter waited for its body, and Envoy passed it no body at all. " +
    "If every request with a body hangs, the filter entry lacks allow_on_headers_stop_iteration: true " +
    "(Envoy 1.35+; without it Envoy holds the body back from the filter). Logged once per worker.");
}

/** What a body callback returns for where the chain got to. */
function dataStatus(p: Progress): FilterDataStatus {
  if (p == Progress.Done) return FilterDataStatus.Continue;
  // A paused stage may want the body later: Envoy keeps it. After a local reply nothing is kept.
  return p == Progress.Stopped ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.StopIterationAndBuffer;
}

/** The pipeline of one stream as a paused stage's Exchange resumes it. */
class StreamResumer extends Resumable {
  constructor(private stream: PipelineStream) {
    super();
  }

  resume(action: StageAction): void {
    this.stream.resume(action);
  }
}

/**
 * Hands the complete body to `stage`, or tells it the body is over its limit. The limit is on
 * what the client sent: an earlier stage's rewrite (the router's `model`) must not push a body
 * at a later stage's limit over it by the length of an upstream model name.
 */
function deliverBody(stage: Stage, ex: Exchange): StageAction {
  if (ex.clientBodySize > stage.maxBodyBytes()) return stage.onBodyTooLarge(ex, <i64>ex.clientBodySize);
  const action = stage.onRequestBody(ex);
  // NeedBody again would wait forever: the body is here.
  return action == StageAction.NeedBody ? StageAction.Continue : action;
}
