// Types of server.mjs for TypeScript callers (tests, envoy/harness).

export interface DemoModelSpec {
  name: string;
  version: string;
  /** Name the server reports as `model`; default `${name}-${version}`. */
  upstream?: string;
}

export interface DemoServerOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** Echoed in x-demo-server; default "demo". */
  name?: string;
  /** "name:version[=upstream],..." or a list; default "demo:v1". */
  models?: string | Array<string | DemoModelSpec>;
  loadMs?: number;
  warmupRequests?: number;
  warmupMs?: number;
  latencyMs?: number;
  errorRate?: number;
  dropRate?: number;
  tokensPerChunk?: number;
  chunkMs?: number;
  seed?: number;
  maxBodyBytes?: number;
  notReadyStatus?: number;
  embeddingDims?: number;
  logRequests?: boolean;
}

export interface DemoServer {
  readonly port: number;
  readonly url: string;
  readonly config: Required<Omit<DemoServerOptions, "models">> & { models: Required<DemoModelSpec>[] };
  /** Tests: while a promise, every SSE stream waits for it before its last chunk ([DONE]); null (the default): none. */
  holdLastChunk: Promise<void> | null;
  /** Streams that have waited for holdLastChunk before their last chunk (so far). */
  readonly lastChunksHeld: number;
  close(): Promise<void>;
}

export function startDemoServer(options?: DemoServerOptions): Promise<DemoServer>;
export function main(argv: string[]): Promise<number>;
