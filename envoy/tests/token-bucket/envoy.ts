// Helpers of the token-bucket tests through Envoy: the Envoy of one form (envoy.template.yaml with
// wasm-filter.template.yaml once per filter entry), the case table's model server (ModelServer of
// host-tests/token-bucket/upstream.ts behind node:http, each reply chunk a separate write), the
// filter state wasm.llm_tokens read from Envoy's access log, and what the client saw in the shape
// checkStep reads.
import http from "node:http";
import { listenOnLoopback, readTemplate, renderTemplate, startEnvoy, yamlString, type Envoy, type HttpResponse } from "../../harness";
import { ROUTER_CONFIG, type TokenBucketForm } from "../../../host-tests/token-bucket/cases";
import type { SeenResponse } from "../../../host-tests/token-bucket/check-step";
import { stageEntries, type FilterEntry } from "../stage-forms";
import { ModelServer } from "../../../host-tests/token-bucket/upstream";

export { streamRequest, wasmFailureStats, wasmFailures, type StreamingResponse } from "../inference-cache/envoy";

export const TEMPLATE = readTemplate("envoy/tests/token-bucket/envoy.template.yaml");
const ENTRY = readTemplate("envoy/tests/token-bucket/wasm-filter.template.yaml");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The request header the access log keys its lines by. */
export const STEP_HEADER = "x-test-step";

/** The Wasm filter entries of a form, in chain order (envoy/tests/stage-forms.ts). */
export function filterEntries(form: TokenBucketForm, bucketConfig: object, routerConfig: object = ROUTER_CONFIG): FilterEntry[] {
  return stageEntries(form, { section: "token_bucket", rootId: "token-bucket" }, bucketConfig, routerConfig);
}

/**
 * envoy.template.yaml with the form's entries in it; the harness's own placeholders (ports, the
 * modules' folder, in the entries too) are left for startEnvoy to fill.
 */
export function renderConfig(entries: FilterEntry[], modelServerPort: number): string {
  const keep = { ADMIN_PORT: "${ADMIN_PORT}", LISTENER_PORT: "${LISTENER_PORT}", WASM_DIR: "${WASM_DIR}" };
  const filters = entries.map((e) =>
    renderTemplate(ENTRY, { ...keep, NAME: e.name, ROOT_ID: e.rootId, WASM_FILE: e.wasm.split("/").pop()!, FILTER_CONFIG: yamlString(JSON.stringify(e.config)) })
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => "          " + line)
      .join("\n"),
  );
  return renderTemplate(TEMPLATE, { ...keep, WASM_FILTERS: filters.join("\n"), MODEL_SERVER_PORT: modelServerPort });
}

/** Envoy flushes access logs every 10 s by default; the tests read them within milliseconds. */
export const FLUSH_ARGS = ["--file-flush-interval-msec", "20"];

export interface BucketEnvoyOptions {
  form: TokenBucketForm;
  bucketConfig: object;
  routerConfig?: object;
  modelServerPort: number;
  /** Names the log file. */
  name: string;
  /** Worker threads (default the harness's 2). */
  concurrency?: number;
}

export async function startBucketEnvoy(opts: BucketEnvoyOptions): Promise<Envoy> {
  const entries = filterEntries(opts.form, opts.bucketConfig, opts.routerConfig);
  return startEnvoy({
    runner: "process",
    name: opts.name,
    config: renderConfig(entries, opts.modelServerPort),
    wasm: [...new Set(entries.map((e) => e.wasm))],
    concurrency: opts.concurrency,
    extraArgs: FLUSH_ARGS,
  });
}

/** Access log lines of Envoy so far: step → {status, llm_tokens} ("-" when unset). */
export function accessLog(envoy: Envoy): Map<string, { status: string; llmTokens: string }> {
  const out = new Map<string, { status: string; llmTokens: string }>();
  for (const m of envoy.logs().matchAll(/^token-bucket-access step=(\S+) status=(\S+) llm_tokens=(\S*)$/gm)) out.set(m[1], { status: m[2], llmTokens: m[3] });
  return out;
}

/**
 * wasm.llm_tokens as the stream's filter state held it when Envoy logged the request tagged `step`
 * (undefined when it was never set). Polls the access log until the line is there.
 */
export async function llmTokensOf(envoy: Envoy, step: string, timeoutMs = 5_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = accessLog(envoy).get(step);
    if (line !== undefined) return line.llmTokens === "-" ? undefined : line.llmTokens;
    if (Date.now() > deadline) throw new Error(`no access log line for ${STEP_HEADER}: ${step} after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** The case table's model server: ModelServer's answers, each chunk written on its own. */
export interface ModelServerHandle {
  readonly port: number;
  /** The answers and their count; `reset()` starts a new one. */
  readonly model: ModelServer;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the model server on 127.0.0.1; SSE chunks go out `chunkGapMs` apart. */
export async function startModelServer(chunkGapMs = 2): Promise<ModelServerHandle> {
  let model = new ModelServer();
  const server = http.createServer({ noDelay: true }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", async () => {
      const encoding = req.headers["accept-encoding"];
      const reply = model.answer(Buffer.concat(parts).toString("utf8"), Array.isArray(encoding) ? encoding.join(",") : encoding);
      res.on("error", () => {}); // the client may go away mid-stream
      res.writeHead(reply.status, reply.headers);
      res.flushHeaders();
      for (const [i, chunk] of reply.chunks.entries()) {
        if (i > 0) await sleep(chunkGapMs);
        if (res.destroyed) return;
        res.write(chunk);
      }
      res.end();
    });
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    get model() {
      return model;
    },
    reset() {
      model = new ModelServer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the client saw, as checkStep reads it; `before` is the model server's count before the request. */
export function seen(res: HttpResponse, before: number, server: ModelServerHandle, llmTokens: string | undefined): SeenResponse {
  return { status: res.status, headers: res.headers, body: res.text, reachedUpstream: server.model.count > before, llmTokens };
}
