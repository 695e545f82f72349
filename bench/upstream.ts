// The benchmark's upstream: a Node HTTP server on 127.0.0.1 that reads the request body and
// answers every request with the same small, precomputed OpenAI chat completion (keep-alive,
// content-length, no per-request allocation beyond what Node's HTTP parser does). It runs in the
// benchmark's own process, next to the client: see bench/README.md ("Processes and cores").
import http from "node:http";
import { listenOnLoopback } from "../envoy/harness/ports";

export const COMPLETION = Buffer.from(
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 1735689600,
    model: "llama-v1",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello from the benchmark upstream." }, finish_reason: "stop" }],
    usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 },
  }),
);

export interface BenchUpstream {
  readonly port: number;
  /** Requests answered so far. */
  readonly count: () => number;
  /** The first body chunk of the latest request (the whole 300-byte body in practice). */
  readonly lastBody: () => string;
  /** The latest request's headers. */
  readonly lastHeaders: () => http.IncomingHttpHeaders;
  /** Requests that arrived with `header` (the bench's route header) set to `value`, so far. */
  readonly countWith: () => number;
  close(): Promise<void>;
}

/**
 * `header`/`value`: the routing header a filter sets and Envoy forwards; the upstream counts the
 * requests that carry it, so the bench can tell that every body-routed request was routed.
 */
export async function startBenchUpstream(header: string, value: string): Promise<BenchUpstream> {
  let count = 0;
  let withHeader = 0;
  let last: Buffer | null = null;
  let lastHeaders: http.IncomingHttpHeaders = {};
  const server = http.createServer((req, res) => {
    lastHeaders = req.headers;
    if (req.headers[header] === value) withHeader++;
    let first = true;
    req.on("data", (c: Buffer) => {
      if (first) last = c;
      first = false;
    });
    req.on("end", () => {
      count++;
      res.writeHead(200, { "content-type": "application/json", "content-length": COMPLETION.length });
      res.end(COMPLETION);
    });
  });
  // Envoy keeps its upstream connections open between rounds; Node's default 5 s keep-alive
  // timeout would close them under Envoy, whose next request could then race the close.
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 310_000;
  const port = await listenOnLoopback(server);
  return {
    port,
    count: () => count,
    lastBody: () => last?.toString("utf8") ?? "",
    lastHeaders: () => lastHeaders,
    countWith: () => withHeader,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
