// One HTTP stream. Every hook defaults to letting traffic through untouched, so a filter overrides
// only what it needs. A stream holds no pointer to its root context: the root hands each new
// stream what it needs (configuration, metrics) when it creates it, so no downcast is needed.

import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from "../abi/types";
import { httpCall, HttpCallHandler } from "../host/http-call";
import { HeaderPair } from "../host/pairs";

export class HttpContext {
  /** The stream's context id. A context the filter reuses for a later stream (the pipeline pools them) gets that stream's id. */
  constructor(public id: u32) {}

  /** `endOfStream` true means the request has no body. */
  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  /** `bodySize` is cumulative while the filter returns StopIterationAndBuffer. */
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onRequestTrailers(numTrailers: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  /** Also runs for the filter's own local responses. */
  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onResponseTrailers(numTrailers: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  /** Access-log time: request and response are complete (or the client went away). */
  onLog(): void {}

  /** The stream is finished; answers to its pending HTTP calls will be ignored. */
  onDone(): void {}

  onDelete(): void {}

  /** `http_call` whose response is delivered to `handler` with this stream effective. */
  httpCall(cluster: string, headers: HeaderPair[], body: ArrayBuffer | null, timeoutMs: u32, handler: HttpCallHandler): u32 {
    return httpCall(this.id, cluster, headers, body, null, timeoutMs, handler);
  }
}
