// Routing, model state and the inference pipeline shared by every protocol:
//   read body (bounded) → echo headers → route → loading? → resolve model → version ready? →
//   validate → count warmup → latency/warmup delay → injected fault → render.
// Validation comes before warmup and fault draws, so a bad request never changes what the next
// good one experiences.
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import {
  LOADING_BODY,
  asciiJson,
  gone,
  headerSafe,
  headerSafePath,
  isObject,
  openaiError,
  parseJsonBody,
  protocolError,
  readBody,
  sendJson,
} from "./http.mjs";
import { modelCard, modelNotFound, planChat, planCompletion, planEmbedding, requireModel } from "./openai.mjs";
import { modelMetadata, planInfer, planPrediction } from "./kserve.mjs";
import { writeSse } from "./sse.mjs";
import { sha256Hex, unitDraw } from "./tokens.mjs";

const MAX_INJECTED_LATENCY_MS = 600_000;
// Salts that keep the drop and error draws of one request independent.
const DRAW_DROP = 1;
const DRAW_ERROR = 2;

function newStats() {
  return { requests: 0, ok: 0, unavailable: 0, rejected: 0, errors: 0, drops: 0, truncated: 0, warmup: 0, probes: 0 };
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** Builds the request handler and its state for a validated config. */
export function createApp(config) {
  const createdSec = Math.floor(Date.now() / 1000);
  const shutdown = new AbortController();
  // Every pending delay listens on this signal; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const entries = config.models.map((m) => ({ ...m, ready: true, warmupRemaining: config.warmupRequests, stats: newStats() }));
  const state = {
    loaded: config.loadMs === 0,
    latencyMs: config.latencyMs,
    errorRate: config.errorRate,
    dropRate: config.dropRate,
    seq: 0,
    total: 0,
    whileLoading: 0,
  };
  // Tests (server.mjs's holdLastChunk): a promise every stream awaits before its last chunk.
  let held = null;
  const streams = { lastChunksHeld: 0 };
  const holdLastChunk = async () => {
    if (held === null) return;
    streams.lastChunksHeld++;
    await held;
  };
  // The port is open from the start; models become available when this fires, like a server
  // that binds first and loads weights afterwards (llama-server, MLServer).
  let loadTimer = state.loaded ? null : setTimeout(() => setLoaded(true), config.loadMs);

  function setLoaded(loaded) {
    if (loadTimer) clearTimeout(loadTimer);
    loadTimer = null;
    state.loaded = loaded;
  }

  const versionsOf = (name) => entries.filter((e) => e.name === name).map((e) => e.version);
  const allReady = () => state.loaded && entries.every((e) => e.ready);
  const isReady = (entry) => state.loaded && entry.ready;

  /**
   * Finds the version a reference names: with an explicit version, name or upstream plus that
   * version; otherwise an upstream name, then `name@version`, then a bare name, which means the
   * last version listed for it (the newest, as MLServer picks).
   */
  function resolve(ref, version) {
    if (version !== undefined) return entries.find((e) => e.version === version && (e.name === ref || e.upstream === ref));
    const byUpstream = entries.find((e) => e.upstream === ref);
    if (byUpstream) return byUpstream;
    const at = ref.lastIndexOf("@");
    if (at > 0) {
      const exact = entries.find((e) => e.name === ref.slice(0, at) && e.version === ref.slice(at + 1));
      if (exact) return exact;
    }
    const named = entries.filter((e) => e.name === ref);
    return named[named.length - 1];
  }

  function pause(ms) {
    return sleep(ms, undefined, { signal: shutdown.signal }).then(
      () => true,
      () => false,
    );
  }

  // Per-request fault overrides, so gateway tests can force an outcome without rates:
  // x-demo-fault: none|error|drop|truncate|status=NNN, x-demo-latency-ms: N, x-demo-usage-tokens: N.
  function requestFault(req) {
    const out = {};
    const fault = req.headers["x-demo-fault"];
    if (fault !== undefined) {
      const status = /^status=(\d{3})$/.exec(fault);
      if (status && Number(status[1]) >= 400 && Number(status[1]) <= 599) {
        out.kind = "status";
        out.status = Number(status[1]);
      } else if (["none", "error", "drop", "truncate"].includes(fault)) {
        out.kind = fault;
      } else {
        return { error: `x-demo-fault: ${JSON.stringify(fault)}: expected none, error, drop, truncate or status=400..599` };
      }
    }
    const latency = req.headers["x-demo-latency-ms"];
    if (latency !== undefined) {
      const ms = Number(latency);
      if (!/^\d+$/.test(latency) || ms > MAX_INJECTED_LATENCY_MS) {
        return { error: `x-demo-latency-ms: ${JSON.stringify(latency)}: expected an integer from 0 to ${MAX_INJECTED_LATENCY_MS}` };
      }
      out.latencyMs = ms;
    }
    const usage = req.headers["x-demo-usage-tokens"];
    if (usage !== undefined) {
      const n = Number(usage);
      if (!/^\d+$/.test(usage) || !Number.isSafeInteger(n)) {
        return { error: `x-demo-usage-tokens: ${JSON.stringify(usage)}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}` };
      }
      out.usageTokens = n;
    }
    return out;
  }

  // A server that misreports: every usage object of the answer claims `completionTokens`,
  // whatever was generated (so a gateway's accounting can be tested at sizes no demo generates).
  function overrideUsage(out, completionTokens) {
    const fix = (o) => {
      if (o && typeof o.usage === "object" && o.usage !== null) {
        o.usage = { ...o.usage, completion_tokens: completionTokens, total_tokens: (o.usage.prompt_tokens ?? 0) + completionTokens };
      }
    };
    if (out.json) fix(out.json);
    for (const e of out.events ?? []) fix(e);
  }

  // Seeded by (seed, sequence number), so the n-th inference request always meets the same fate.
  function drawFault(seq) {
    if (unitDraw(config.seed, seq, DRAW_DROP) < state.dropRate) return "drop";
    if (unitDraw(config.seed, seq, DRAW_ERROR) < state.errorRate) return "error";
    return "none";
  }

  function setModelHeaders(res, entry) {
    res.setHeader("x-demo-model", entry.name);
    res.setHeader("x-demo-version", entry.version);
  }

  /** Runs a resolved inference request through readiness, warmup, latency and faults. */
  async function serveModel(ctx, protocol, entry, makePlan) {
    const { req, res } = ctx;
    setModelHeaders(res, entry);
    entry.stats.requests++;
    if (!isReady(entry)) {
      entry.stats.unavailable++;
      return sendJson(res, 503, LOADING_BODY);
    }
    const fault = requestFault(req);
    if (fault.error) {
      entry.stats.rejected++;
      return sendJson(res, 400, protocolError(protocol, 400, fault.error, { code: "invalid_value" }));
    }
    const plan = makePlan();
    if (plan.error) {
      entry.stats.rejected++;
      return sendJson(res, plan.error.status, plan.error.body);
    }
    const seq = ++state.seq;
    const warm = entry.warmupRemaining > 0;
    if (warm) {
      entry.warmupRemaining--;
      entry.stats.warmup++;
    }
    const requestId = `${config.name}-${seq}`;
    res.setHeader("x-demo-request-id", requestId);
    res.setHeader("x-demo-warmup", String(warm));
    const kind = fault.kind ?? drawFault(seq);
    const delay = state.latencyMs + (warm ? config.warmupMs : 0) + (fault.latencyMs ?? 0);
    if (delay > 0 && !(await pause(delay))) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    if (kind === "drop") {
      // The request was read and then the server "crashed": no status line, no bytes.
      entry.stats.drops++;
      res.destroy();
      return;
    }
    if (kind === "error" || kind === "status") {
      entry.stats.errors++;
      const status = kind === "error" ? 500 : fault.status;
      const message = kind === "error" ? "Injected failure (demo error rate)" : `Injected status ${status} (x-demo-fault)`;
      const headers = status === 429 || status === 503 ? { "retry-after": "1" } : {};
      return sendJson(res, status, protocolError(protocol, status, message, { code: kind === "error" ? "internal_error" : "injected_status" }), headers);
    }
    const out = plan.render({ requestId, created: Math.floor(Date.now() / 1000) });
    if (fault.usageTokens !== undefined) overrideUsage(out, fault.usageTokens);
    if (out.events) {
      const cutAfter = kind === "truncate" ? Math.max(1, Math.floor(out.events.length / 2)) : undefined;
      if (kind === "truncate") entry.stats.truncated++;
      else entry.stats.ok++;
      await writeSse(res, out.events, { chunkMs: config.chunkMs, cutAfter, signal: shutdown.signal, beforeLast: holdLastChunk });
      return;
    }
    if (kind === "truncate") {
      // Promise the whole body, send half, then close: the client sees a short read.
      entry.stats.truncated++;
      const bytes = Buffer.from(JSON.stringify(out.json), "utf8");
      res.statusCode = 200;
      res.setHeader("content-type", "application/json");
      res.setHeader("content-length", bytes.length);
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
      return;
    }
    entry.stats.ok++;
    sendJson(res, 200, out.json);
  }

  // While loading, every model endpoint answers like llama-server, before even parsing the body.
  function loadingGate(ctx) {
    if (state.loaded) return false;
    state.whileLoading++;
    sendJson(ctx.res, 503, LOADING_BODY);
    return true;
  }

  function bodyJsonError(ctx, protocol) {
    const parsed = ctx.json;
    if (parsed.ok) return false;
    const message = {
      empty: "The request body is empty; expected JSON.",
      utf8: "The request body is not valid UTF-8.",
      json: "We could not parse the JSON body of your request.",
    }[parsed.reason];
    sendJson(ctx.res, 400, protocolError(protocol, 400, message, { code: parsed.reason === "utf8" ? "invalid_utf8" : "invalid_json" }));
    return true;
  }

  function openaiInference(planner) {
    return async (ctx) => {
      if (loadingGate(ctx) || bodyJsonError(ctx, "openai")) return;
      const model = requireModel(ctx.json.value);
      if (model.error) return sendJson(ctx.res, model.error.status, model.error.body);
      const entry = resolve(model.model);
      if (!entry) return sendJson(ctx.res, 404, modelNotFound(model.model));
      await serveModel(ctx, "openai", entry, () => planner(ctx.json.value, { entry, config }));
    };
  }

  // V2 paths: the model, and optionally the version, come from the URL.
  function v2Entry(ctx) {
    const [name, version] = ctx.params;
    const entry = resolve(name, version);
    if (!entry) {
      const what = version === undefined ? `Model ${name}` : `Model ${name} version ${version}`;
      sendJson(ctx.res, 404, { error: `${what} not found` });
    }
    return entry;
  }

  function stateView() {
    return {
      server: config.name,
      loaded: state.loaded,
      latency_ms: state.latencyMs,
      error_rate: state.errorRate,
      drop_rate: state.dropRate,
      models: entries.map((e) => ({ name: e.name, version: e.version, upstream: e.upstream, ready: e.ready, warmup_remaining: e.warmupRemaining })),
    };
  }

  function statsView() {
    const models = {};
    for (const e of entries) {
      models[e.name] ??= {};
      models[e.name][e.version] = { upstream: e.upstream, ready: isReady(e), warmup_remaining: e.warmupRemaining, ...e.stats };
    }
    return { server: config.name, loaded: state.loaded, requests_total: state.total, unavailable_while_loading: state.whileLoading, models };
  }

  const STATE_FIELDS = {
    model: (v) => typeof v === "string",
    version: (v) => typeof v === "string",
    ready: (v) => typeof v === "boolean",
    loaded: (v) => typeof v === "boolean",
    warmup_requests: (v) => Number.isInteger(v) && v >= 0,
    latency_ms: (v) => Number.isInteger(v) && v >= 0 && v <= MAX_INJECTED_LATENCY_MS,
    error_rate: (v) => typeof v === "number" && v >= 0 && v <= 1,
    drop_rate: (v) => typeof v === "number" && v >= 0 && v <= 1,
  };

  function postState(ctx) {
    if (bodyJsonError(ctx, "openai")) return;
    const body = ctx.json.value;
    const bad = (message, status = 400) => sendJson(ctx.res, status, openaiError(message, "invalid_request_error", "invalid_value"));
    if (!isObject(body)) return bad("expected a JSON object");
    for (const [key, value] of Object.entries(body)) {
      if (!Object.hasOwn(STATE_FIELDS, key)) return bad(`${key}: unknown field; expected ${Object.keys(STATE_FIELDS).join(", ")}`);
      if (!STATE_FIELDS[key](value)) return bad(`${key}: ${JSON.stringify(value)}: invalid value`);
    }
    if (body.version !== undefined && body.model === undefined) return bad("version: needs model");
    const targets = entries.filter((e) => (body.model === undefined || e.name === body.model) && (body.version === undefined || e.version === body.version));
    if (body.model !== undefined && targets.length === 0) {
      return sendJson(ctx.res, 404, openaiError(`no model ${body.model}${body.version ? ` version ${body.version}` : ""}`, "invalid_request_error", "model_not_found", "model"));
    }
    for (const e of targets) {
      if (body.ready !== undefined) e.ready = body.ready;
      if (body.warmup_requests !== undefined) e.warmupRemaining = body.warmup_requests;
    }
    if (body.loaded !== undefined) setLoaded(body.loaded);
    if (body.latency_ms !== undefined) state.latencyMs = body.latency_ms;
    if (body.error_rate !== undefined) state.errorRate = body.error_rate;
    if (body.drop_rate !== undefined) state.dropRate = body.drop_rate;
    sendJson(ctx.res, 200, stateView());
  }

  // [method, path pattern, handler]; the pattern's groups become ctx.params (URL-decoded).
  const V2_MODEL = "/v2/models/([^/]+)(?:/versions/([^/]+))?";
  const ROUTES = [
    ["POST", "/v1/chat/completions", openaiInference(planChat)],
    ["POST", "/v1/completions", openaiInference(planCompletion)],
    ["POST", "/v1/embeddings", openaiInference(planEmbedding)],
    ["GET", "/v1/models", (ctx) => {
      if (loadingGate(ctx)) return;
      sendJson(ctx.res, 200, { object: "list", data: entries.filter(isReady).map((e) => modelCard(e, { config, createdSec })) });
    }],
    ["GET", "/v1/models/(.+)", (ctx) => {
      if (loadingGate(ctx)) return;
      const entry = resolve(ctx.params[0]);
      if (!entry || !isReady(entry)) return sendJson(ctx.res, 404, modelNotFound(ctx.params[0]));
      setModelHeaders(ctx.res, entry);
      sendJson(ctx.res, 200, modelCard(entry, { config, createdSec }));
    }],
    // vLLM, TGI and llama-server health: 200 only when every model can serve.
    ["GET", "/health", (ctx) => (allReady() ? sendJson(ctx.res, 200, { status: "ok" }) : sendJson(ctx.res, 503, LOADING_BODY))],
    ["GET", "/v1/health", (ctx) => (allReady() ? sendJson(ctx.res, 200, { status: "ok" }) : sendJson(ctx.res, 503, LOADING_BODY))],
    ["GET", "/v2", (ctx) => sendJson(ctx.res, 200, { name: config.name, version: "1", extensions: [] })],
    ["GET", "/v2/health/live", (ctx) => sendJson(ctx.res, 200, { live: true })],
    ["GET", "/v2/health/ready", (ctx) => {
      const ready = allReady();
      sendJson(ctx.res, ready ? 200 : config.notReadyStatus, { ready });
    }],
    ["GET", `${V2_MODEL}/ready`, (ctx) => {
      const entry = v2Entry(ctx);
      if (!entry) return;
      setModelHeaders(ctx.res, entry);
      entry.stats.probes++;
      const ready = isReady(entry);
      sendJson(ctx.res, ready ? 200 : config.notReadyStatus, { name: entry.name, ready });
    }],
    ["GET", V2_MODEL, (ctx) => {
      if (loadingGate(ctx)) return;
      const entry = v2Entry(ctx);
      if (!entry) return;
      setModelHeaders(ctx.res, entry);
      entry.stats.probes++;
      if (!isReady(entry)) return sendJson(ctx.res, 503, LOADING_BODY);
      sendJson(ctx.res, 200, modelMetadata(entry, ctx.params[1] === undefined ? versionsOf(entry.name) : [entry.version]));
    }],
    ["POST", `${V2_MODEL}/infer`, async (ctx) => {
      if (loadingGate(ctx)) return;
      const entry = v2Entry(ctx);
      if (!entry || bodyJsonError(ctx, "v2")) return;
      await serveModel(ctx, "v2", entry, () => planInfer(ctx.json.value, { entry, config }));
    }],
    // TorchServe: /ping is 500 "Unhealthy" until every model has workers.
    ["GET", "/ping", (ctx) => (allReady() ? sendJson(ctx.res, 200, { status: "Healthy" }) : sendJson(ctx.res, 500, { status: "Unhealthy" }))],
    ["POST", "/predictions/([^/]+)(?:/([^/]+))?", async (ctx) => {
      if (loadingGate(ctx)) return;
      const [name, version] = ctx.params;
      const entry = resolve(name, version);
      if (!entry) {
        const message = version === undefined ? `Model not found: ${name}` : `Model version not found: ${name}/${version}`;
        return sendJson(ctx.res, 404, { code: 404, type: "ModelNotFoundException", message });
      }
      await serveModel(ctx, "torchserve", entry, () => planPrediction(ctx.bytes, { entry, config }));
    }],
    // Ollama lists the models it has in memory; a loading or unready one is absent.
    ["GET", "/api/ps", (ctx) => {
      const models = entries.filter(isReady).map((e) => ({
        name: e.upstream,
        model: e.upstream,
        size: 0,
        digest: sha256Hex(e.upstream),
        details: { family: e.name, format: "demo", parameter_size: "0", quantization_level: "none" },
        expires_at: "2100-01-01T00:00:00Z",
        size_vram: 0,
      }));
      sendJson(ctx.res, 200, { models });
    }],
    ["GET", "/_demo/state", (ctx) => sendJson(ctx.res, 200, stateView())],
    ["POST", "/_demo/state", postState],
    ["GET", "/_demo/stats", (ctx) => sendJson(ctx.res, 200, statsView())],
    ["DELETE", "/_demo/stats", (ctx) => {
      for (const e of entries) e.stats = newStats();
      state.total = 0;
      state.whileLoading = 0;
      sendJson(ctx.res, 200, statsView());
    }],
  ].map(([method, pattern, handler]) => ({ method, pattern: new RegExp(`^${pattern}$`), handler }));

  /** Finds the route: {handler, params}, {allow} for a known path with another method, or null. */
  function route(method, path) {
    const allow = [];
    for (const r of ROUTES) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.method !== method) {
        allow.push(r.method);
        continue;
      }
      const params = m.slice(1).map((p) => (p === undefined ? undefined : decodeSegment(p)));
      if (params.includes(null)) return null;
      return { handler: r.handler, params };
    }
    return allow.length > 0 ? { allow } : null;
  }

  // Echoed on every response, so gateway tests can prove what the gateway forwarded. Node caps
  // request headers at 16 KiB, which bounds these echoes too.
  function echoRequest(req, res) {
    res.setHeader("x-demo-server", config.name);
    res.setHeader("x-demo-path", headerSafePath(req.url));
    const seen = {};
    for (const name of Object.keys(req.headers).sort()) {
      if (name.startsWith("x-ai-")) seen[name] = req.headers[name];
    }
    res.setHeader("x-demo-seen-ai-headers", asciiJson(seen));
  }

  async function handle(req, res) {
    state.total++;
    const qmark = req.url.indexOf("?");
    const path = qmark < 0 ? req.url : req.url.slice(0, qmark);
    echoRequest(req, res);
    if (config.logRequests) logOnClose(req, res, path);

    const body = await readBody(req, config.maxBodyBytes);
    if (body.aborted) return;
    if (body.tooLarge) {
      const message = `Request body exceeds ${config.maxBodyBytes} bytes.`;
      sendJson(res, 413, openaiError(message, "invalid_request_error", "request_too_large"), { connection: "close" });
      // The rest of the body is still arriving; stop reading it once our answer is out.
      if (!body.drained) res.on("finish", () => req.socket.destroy());
      return;
    }
    res.setHeader("x-demo-body-sha256", sha256Hex(body.bytes));
    const json = body.bytes.length > 0 ? parseJsonBody(body.bytes) : { ok: false, reason: "empty" };
    if (json.ok && isObject(json.value) && typeof json.value.model === "string") {
      res.setHeader("x-demo-body-model", headerSafe(json.value.model));
    }

    const found = route(req.method, path);
    if (!found) {
      return sendJson(res, 404, openaiError(`Unknown path: ${req.method} ${path}`, "invalid_request_error", "not_found"));
    }
    if (found.allow) {
      return sendJson(res, 405, openaiError(`Method ${req.method} not allowed on ${path}`, "invalid_request_error", "method_not_allowed"), { allow: found.allow.join(", ") });
    }
    await found.handler({ req, res, path, params: found.params, bytes: body.bytes, json });
  }

  function logOnClose(req, res, path) {
    const start = process.hrtime.bigint();
    res.on("close", () => {
      const line = {
        time: new Date().toISOString(),
        server: config.name,
        method: req.method,
        path,
        status: res.headersSent ? res.statusCode : 0,
        model: res.getHeader("x-demo-model") ?? null,
        version: res.getHeader("x-demo-version") ?? null,
        ms: Number((process.hrtime.bigint() - start) / 1_000_000n),
      };
      process.stdout.write(JSON.stringify(line) + "\n");
    });
  }

  return {
    /** The Node request listener; never rejects, never throws. */
    listener(req, res) {
      handle(req, res).catch((err) => {
        process.stderr.write(`demo-server ${config.name}: internal error on ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
        if (!gone(res)) sendJson(res, 500, openaiError("Internal demo-server error.", "server_error", "internal_error"));
        else res.destroy();
      });
    },
    /** A promise every SSE stream awaits before its last chunk ([DONE]); null: none. */
    setHoldLastChunk(promise) {
      held = promise;
    },
    /** How many streams have waited for a hold before their last chunk. */
    streams,
    /** Stops timers and wakes every pending delay so shutdown does not wait for them. */
    close() {
      if (loadTimer) clearTimeout(loadTimer);
      loadTimer = null;
      shutdown.abort();
    },
  };
}
