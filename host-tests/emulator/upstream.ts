// The server behind the router, played by a test's handler: once the request is complete at the
// router it is asked (on the event loop, never inside a filter callback) and its answer is sent back
// as separate frames: headers after `delayMs`, then body chunks (spaced by `chunkIntervalMs`), then
// trailers. A handler may be async; the request driver waits for it. An upstream that sends a body
// whole also sends content-length, as an HTTP/1.1 server would.

import type { FakeClock, Timer } from "./clock";
import { headerPairs, toBytes, type BodyInit, type HeaderInit, type HeaderPairs } from "./types";

export interface UpstreamRequest {
  method: string;
  path: string;
  authority: string;
  headers: Record<string, string>;
  headerPairs: HeaderPairs;
  body: string;
  bodyBytes: Uint8Array;
  trailers: Record<string, string> | undefined;
}

export type UpstreamResponse =
  | {
      status?: number;
      headers?: HeaderInit;
      body?: BodyInit;
      /** Sent as separate frames; with `chunkIntervalMs`, spaced in (fake) time. */
      bodyChunks?: BodyInit[];
      chunkIntervalMs?: number;
      trailers?: HeaderInit;
      /** Time until the response headers arrive. */
      delayMs?: number;
    }
  /** The connection resets before the response headers. */
  | { reset: true; delayMs?: number }
  /** Never answers (the route timeout ends the stream). */
  | { hang: true };

export type UpstreamHandler = (request: UpstreamRequest) => UpstreamResponse | Promise<UpstreamResponse>;

/** What the upstream needs from the stream: the router's request and a way to answer it. */
export interface RouterSide {
  upstreamRequest(): UpstreamRequest | undefined;
  readonly awaitingUpstreamResponse: boolean;
  upstreamResponseHeaders(pairs: HeaderPairs, endStream: boolean): void;
  upstreamResponseData(bytes: Uint8Array, endStream: boolean): void;
  upstreamResponseTrailers(pairs: HeaderPairs): void;
  upstreamReset(): void;
}

export class Upstream {
  private readonly timers: Timer[] = [];
  /** An async handler still running (plugin.request() awaits it). */
  pending: Promise<void> | null = null;
  /** What an async handler threw; plugin.request() rethrows it. */
  error: unknown = null;

  constructor(
    private readonly clock: FakeClock,
    private readonly router: RouterSide,
    private readonly handler: UpstreamHandler,
  ) {}

  /** The request is complete at the router: ask the handler on the next loop turn. */
  ask(): void {
    this.timers.push(this.clock.schedule(0, "upstream request", () => this.run()));
  }

  cancel(): void {
    for (const t of this.timers) t.cancel();
  }

  private run(): void {
    const request = this.router.upstreamRequest();
    if (request === undefined || !this.router.awaitingUpstreamResponse) return;
    const answer = this.handler(request);
    if (!(answer instanceof Promise)) {
      this.schedule(answer);
      return;
    }
    this.pending = answer.then(
      (response) => {
        this.pending = null;
        this.schedule(response);
      },
      (error: unknown) => {
        this.pending = null;
        this.error = error;
      },
    );
  }

  private schedule(response: UpstreamResponse): void {
    if ("hang" in response) return;
    this.timers.push(this.clock.schedule(response.delayMs ?? 0, "upstream response", () => this.respond(response)));
  }

  private respond(response: Exclude<UpstreamResponse, { hang: true }>): void {
    const router = this.router;
    if (!router.awaitingUpstreamResponse) return;
    if ("reset" in response) {
      router.upstreamReset();
      return;
    }
    const whole = toBytes(response.body);
    const chunks = response.bodyChunks === undefined ? (whole.length > 0 ? [whole] : []) : response.bodyChunks.map(toBytes);
    const pairs: HeaderPairs = [[":status", String(response.status ?? 200)], ...headerPairs(response.headers)];
    if (response.body !== undefined && response.bodyChunks === undefined && !pairs.some(([n]) => n === "content-length")) {
      pairs.push(["content-length", String(whole.length)]);
    }
    const trailers = response.trailers === undefined ? null : headerPairs(response.trailers);
    router.upstreamResponseHeaders(pairs, chunks.length === 0 && trailers === null);
    const frame = (n: number): void => {
      if (n < chunks.length) router.upstreamResponseData(chunks[n], n === chunks.length - 1 && trailers === null);
      else if (trailers !== null) router.upstreamResponseTrailers(trailers);
    };
    const interval = response.chunkIntervalMs ?? 0;
    const frames = chunks.length + (trailers === null ? 0 : 1);
    for (let n = 0; n < frames; n++) {
      if (interval > 0) this.timers.push(this.clock.schedule(interval * (n + 1), "upstream body chunk", () => frame(n)));
      else frame(n);
    }
  }
}
