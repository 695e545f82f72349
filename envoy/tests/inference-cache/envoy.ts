// Helpers of the inference-cache tests through Envoy: the Envoy of one form (envoy.template.yaml
// with wasm-filter.template.yaml once per filter entry), the test model server (ModelServer of
// host-tests/inference-cache/upstream.ts behind node:http, each reply chunk a separate write), a
// streaming client, and what the client saw in the shape checkStep reads.
import { createHash } from "node:crypto";
import http from "node:http";
import { freePort, listenOnLoopback, readTemplate, renderTemplate, startEnvoy, yamlString, type Envoy, type HttpRequest, type HttpResponse } from "../../harness";
import { CHAT_PATH, ROUTER_CONFIG, chat, type CacheForm } from "../../../host-tests/inference-cache/cases";
import type { SeenResponse } from "../../../host-tests/inference-cache/check-step";
import { stageEntries, type FilterEntry } from "../stage-forms";
import { ModelServer, bodyFrames } from "../../../host-tests/inference-cache/upstream";

export const TEMPLATE = readTemplate("envoy/tests/inference-cache/envoy.template.yaml");
const ENTRY = readTemplate("envoy/tests/inference-cache/wasm-filter.template.yaml");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Wasm filter entries of a form, in chain order (envoy/tests/stage-forms.ts). */
export function filterEntries(form: CacheForm, cacheConfig: object, routerConfig: object = ROUTER_CONFIG): FilterEntry[] {
  return stageEntries(form, { section: "inference_cache", rootId: "inference-cache" }, cacheConfig, routerConfig);
}

/**
 * envoy.template.yaml with the form's entries in it; the harness's own placeholders (ports, the
 * modules' folder, in the entries too) are left for startEnvoy to fill.
 */
export function renderConfig(entries: FilterEntry[], ports: { modelServer: number; webdis: number }): string {
  const keep = { ADMIN_PORT: "${ADMIN_PORT}", LISTENER_PORT: "${LISTENER_PORT}", WASM_DIR: "${WASM_DIR}" };
  const filters = entries.map((e) =>
    renderTemplate(ENTRY, { ...keep, NAME: e.name, ROOT_ID: e.rootId, WASM_FILE: e.wasm.split("/").pop()!, FILTER_CONFIG: yamlString(JSON.stringify(e.config)) })
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => "          " + line)
      .join("\n"),
  );
  return renderTemplate(TEMPLATE, { ...keep, WASM_FILTERS: filters.join("\n"), MODEL_SERVER_PORT: ports.modelServer, WEBDIS_PORT: ports.webdis });
}

export interface CacheEnvoyOptions {
  form: CacheForm;
  cacheConfig: object;
  modelServerPort: number;
  /** Webdis of the shared tier; default a port nobody listens on. */
  webdisPort?: number;
  /** Names the log file. */
  name: string;
}

export async function startCacheEnvoy(opts: CacheEnvoyOptions): Promise<Envoy> {
  const entries = filterEntries(opts.form, opts.cacheConfig);
  const config = renderConfig(entries, { modelServer: opts.modelServerPort, webdis: opts.webdisPort ?? (await freePort()) });
  return startEnvoy({ runner: "process", name: opts.name, config, wasm: [...new Set(entries.map((e) => e.wasm))] });
}

/** Lines of Envoy's log that show a Wasm failure: a trap, an abort, a failed callback, an error log. */
export function wasmFailures(log: string): string[] {
  return log.split("\n").filter((l) => /RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed|\[(error|critical)\]\[wasm\]|wasm.*(trap|failed)/i.test(l));
}

/** Envoy's own Wasm stats that count failures (VM reloads after a failed VM, failed loads) and are not 0. */
export async function wasmFailureStats(envoy: Envoy): Promise<Record<string, number>> {
  const stats = await envoy.stats("^wasm\\.");
  return Object.fromEntries([...stats].filter(([name, value]) => /fail|reload/.test(name) && value !== 0));
}

/** A chat completion request (host-tests/inference-cache/cases.ts `chat`) asking `content`. */
export function chatRequest(content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: "POST",
    path: CHAT_PATH,
    headers: { "content-type": "application/json", ...headers },
    body: chat({ messages: [{ role: "user", content }], ...extra }),
  };
}

/** The Redis key of an entry: `key_prefix`, the tenant partition (SHA-256 of the identity, `_` without one), the key. */
export function redisKeyOf(hexKey: string, identity?: string, prefix = "aigw:cache:"): string {
  const tenant = identity === undefined ? "_" : createHash("sha256").update(identity).digest("hex");
  return `${prefix}${tenant}:${hexKey}`;
}

/** The test model server: ModelServer's answers, each chunk written on its own. */
export interface ModelServerHandle {
  readonly port: number;
  /** The answers and their count; `reset()` starts a new one (requests numbered from 1 again). */
  readonly model: ModelServer;
  /** x-ai-cache-key of each request received ("" without one), oldest first. */
  readonly keys: string[];
  /** Chunks written of the reply being sent, and whether its last chunk has gone out. */
  readonly progress: { written: number; lastSent: boolean };
  /** Held before the last chunk of a multi-chunk reply while set (resolve it to let the reply end). */
  holdLastChunk: Promise<void> | null;
  /** Time between the last chunk and the end of the reply (the terminating chunk). */
  endDelayMs: number;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the model server on 127.0.0.1; SSE chunks go out `chunkGapMs` apart. */
export async function startModelServer(chunkGapMs = 5): Promise<ModelServerHandle> {
  let model = new ModelServer();
  const keys: string[] = [];
  const progress = { written: 0, lastSent: false };
  const handle = {
    port: 0,
    get model() {
      return model;
    },
    keys,
    progress,
    holdLastChunk: null as Promise<void> | null,
    endDelayMs: 0,
    reset() {
      model = new ModelServer();
      keys.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer({ noDelay: true }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", async () => {
      const key = req.headers["x-ai-cache-key"];
      keys.push(typeof key === "string" ? key : "");
      const encoding = req.headers["accept-encoding"];
      const reply = model.answer(Buffer.concat(parts).toString("utf8"), Array.isArray(encoding) ? encoding.join(",") : encoding);
      const frames = bodyFrames(reply);
      res.on("error", () => {}); // the client may go away mid-stream
      res.writeHead(reply.status, reply.headers);
      res.flushHeaders();
      progress.written = 0;
      progress.lastSent = false;
      for (const [i, chunk] of frames.entries()) {
        const last = i === frames.length - 1;
        if (i > 0) await sleep(chunkGapMs);
        if (last && frames.length > 1 && handle.holdLastChunk !== null) await handle.holdLastChunk;
        if (res.destroyed) return;
        res.write(chunk);
        progress.written++;
        if (last) progress.lastSent = true;
      }
      if (handle.endDelayMs > 0) await sleep(handle.endDelayMs);
      // Asked for by the test: the chunked body ends with trailers.
      if (req.headers["x-test-trailers"] !== undefined) res.addTrailers({ "x-checksum": "1" });
      res.end();
    });
  });
  handle.port = await listenOnLoopback(server);
  return handle;
}

/** What the client saw, as checkStep reads it; `before` is the model server's count before the request. */
export function seen(res: HttpResponse, before: number, server: ModelServerHandle): SeenResponse {
  const reached = server.model.count > before;
  return {
    status: res.status,
    headers: res.headers,
    body: res.text,
    reachedUpstream: reached,
    upstreamKey: reached ? server.keys[server.keys.length - 1] : "",
  };
}

/** A response read as it arrives (HTTP/1.1, a connection of its own). */
export interface StreamingResponse {
  status: number;
  headers: Record<string, string>;
  /** The body so far. */
  text(): string;
  /** Resolves once the body so far satisfies `test` (rejects at the end of the body or after `timeoutMs`). */
  until(test: (body: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the whole body once it ended. */
  done: Promise<string>;
  /** Closes the connection at once. */
  close(): void;
}

export function streamRequest(baseUrl: string, req: HttpRequest): Promise<StreamingResponse> {
  const url = new URL(req.path, baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
    const creq = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: req.method ?? "POST", headers, agent: false }, (res) => {
      let body = "";
      const waiters = new Set<() => void>();
      let ended = false;
      const done = new Promise<string>((resolveDone, rejectDone) => {
        res.on("end", () => {
          ended = true;
          waiters.forEach((w) => w());
          resolveDone(body);
        });
        res.on("error", rejectDone);
      });
      done.catch(() => {});
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
        waiters.forEach((w) => w());
      });
      const flat: Record<string, string> = {};
      for (const [n, v] of Object.entries(res.headers)) if (v !== undefined) flat[n] = Array.isArray(v) ? v.join(", ") : v;
      resolve({
        status: res.statusCode ?? 0,
        headers: flat,
        text: () => body,
        until: (test, timeoutMs = 5_000) =>
          new Promise<string>((ok, fail) => {
            const check = () => {
              if (test(body)) finish(null);
              else if (ended) finish(new Error(`the body ended without the awaited part: ${JSON.stringify(body.slice(0, 300))}`));
            };
            const timer = setTimeout(() => finish(new Error(`no awaited part in ${timeoutMs} ms: ${JSON.stringify(body.slice(0, 300))}`)), timeoutMs);
            const finish = (err: Error | null) => {
              clearTimeout(timer);
              waiters.delete(check);
              if (err) fail(err);
              else ok(body);
            };
            waiters.add(check);
            check();
          }),
        done,
        close: () => creq.destroy(),
      });
    });
    creq.on("error", reject);
    creq.end(req.body);
  });
}
