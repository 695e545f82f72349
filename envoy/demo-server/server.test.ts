// The demo model server, tested over real HTTP on 127.0.0.1 with free ports. Timing assertions are
// relative (a warm request is slower than a cold one), never absolute thresholds.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoServer, type DemoServer, type DemoServerOptions } from "./server.mjs";

const SERVER_MJS = path.join(path.dirname(fileURLToPath(import.meta.url)), "server.mjs");
const LOADING = { error: { message: "Loading model", type: "unavailable_error", code: 503 } };
const CHAT = { model: "llama", messages: [{ role: "user", content: "Say something about gateways." }] };

type Json = any;

async function withServer(options: DemoServerOptions, fn: (s: DemoServer) => Promise<void>): Promise<void> {
  const server = await startDemoServer({ host: "127.0.0.1", port: 0, ...options });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function post(server: DemoServer, route: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const payload = typeof body === "string" ? body : body instanceof Uint8Array ? new Uint8Array(body) : JSON.stringify(body);
  return fetch(server.url + route, { method: "POST", body: payload, headers: { "content-type": "application/json", ...headers } });
}

async function json(res: Response): Promise<Json> {
  return JSON.parse(await res.text());
}

/** Splits an SSE body into its data payloads; asserts the framing on the way. */
function sseData(text: string): string[] {
  expect(text.endsWith("\n\n")).toBe(true);
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((event) => {
      expect(event.startsWith("data: ")).toBe(true);
      return event.slice("data: ".length);
    });
}

async function poll(fn: () => Promise<boolean>, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error("condition not met before the deadline");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("demo-server", () => {
  let server: DemoServer;
  beforeAll(async () => {
    server = await startDemoServer({ port: 0, name: "demo-a", models: "llama:v1,llama:v2,embed:v1=text-embed-3", tokensPerChunk: 2 });
  });
  afterAll(async () => {
    await server.close();
  });

  describe("OpenAI chat completions", () => {
    it("answers with usage, the upstream model name and the demo object", async () => {
      const res = await post(server, "/v1/chat/completions", CHAT);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = await json(res);
      expect(body.object).toBe("chat.completion");
      expect(body.model).toBe("llama-v2");
      expect(body.demo).toEqual({ server: "demo-a", model: "llama", version: "v2" });
      expect(body.choices).toHaveLength(1);
      expect(body.choices[0].message.role).toBe("assistant");
      expect(body.choices[0].finish_reason).toBe("stop");
      const { prompt_tokens, completion_tokens, total_tokens } = body.usage;
      // 3 priming + 4 per message + ceil(29 bytes / 4).
      expect(prompt_tokens).toBe(3 + 4 + 8);
      expect(completion_tokens).toBeGreaterThan(0);
      expect(total_tokens).toBe(prompt_tokens + completion_tokens);
    });

    it("is deterministic per request and differs between versions", async () => {
      const a = await json(await post(server, "/v1/chat/completions", { ...CHAT, model: "llama@v1" }));
      const b = await json(await post(server, "/v1/chat/completions", { ...CHAT, model: "llama@v1" }));
      const c = await json(await post(server, "/v1/chat/completions", { ...CHAT, model: "llama@v2" }));
      expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
      expect(a.usage).toEqual(b.usage);
      expect(a.id).not.toBe(b.id);
      expect(a.choices[0].message.content).not.toBe(c.choices[0].message.content);
    });

    it.each([
      ["llama", "v2", "llama-v2"],
      ["llama@v1", "v1", "llama-v1"],
      ["llama-v1", "v1", "llama-v1"],
      ["text-embed-3", "v1", "text-embed-3"],
    ])("selects %s as version %s", async (model, version, upstream) => {
      const res = await post(server, "/v1/chat/completions", { ...CHAT, model });
      expect(res.headers.get("x-demo-version")).toBe(version);
      expect((await json(res)).model).toBe(upstream);
    });

    it("caps completion_tokens at max_tokens and max_completion_tokens with finish_reason length", async () => {
      for (const field of ["max_tokens", "max_completion_tokens"]) {
        const body = await json(await post(server, "/v1/chat/completions", { ...CHAT, [field]: 3 }));
        expect(body.usage.completion_tokens).toBe(3);
        expect(body.choices[0].finish_reason).toBe("length");
      }
    });

    it("returns n choices and sums their tokens", async () => {
      const body = await json(await post(server, "/v1/chat/completions", { ...CHAT, n: 3, max_tokens: 4 }));
      expect(body.choices.map((c: Json) => c.index)).toEqual([0, 1, 2]);
      expect(body.usage.completion_tokens).toBe(12);
    });
  });

  describe("OpenAI streaming", () => {
    it("streams chat.completion.chunk events ending with [DONE] and no usage by default", async () => {
      const plain = await json(await post(server, "/v1/chat/completions", CHAT));
      const res = await post(server, "/v1/chat/completions", { ...CHAT, stream: true });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      const data = sseData(await res.text());
      expect(data.at(-1)).toBe("[DONE]");
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      for (const c of chunks) {
        expect(c.object).toBe("chat.completion.chunk");
        expect(c.model).toBe("llama-v2");
        expect(c).not.toHaveProperty("usage");
      }
      expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
      expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
      const content = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
      expect(content).toBe(plain.choices[0].message.content);
      // tokensPerChunk 2: role chunk, ceil(tokens / 2) content chunks, finish chunk.
      expect(chunks.length).toBe(2 + Math.ceil(plain.usage.completion_tokens / 2));
    });

    it("ends with an empty-choices usage chunk when include_usage is set", async () => {
      const plain = await json(await post(server, "/v1/chat/completions", { ...CHAT, max_tokens: 5 }));
      const res = await post(server, "/v1/chat/completions", { ...CHAT, max_tokens: 5, stream: true, stream_options: { include_usage: true } });
      const data = sseData(await res.text());
      expect(data.at(-1)).toBe("[DONE]");
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      const last = chunks.at(-1);
      expect(last.choices).toEqual([]);
      expect(last.usage).toEqual(plain.usage);
      expect(last.usage.total_tokens).toBe(last.usage.prompt_tokens + last.usage.completion_tokens);
      for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
      expect(chunks.at(-2).choices[0].finish_reason).toBe("length");
    });

    it("streams legacy completions with a default cap of 16 tokens", async () => {
      const plain = await json(await post(server, "/v1/completions", { model: "llama", prompt: "Once upon a time" }));
      expect(plain.object).toBe("text_completion");
      expect(plain.usage.prompt_tokens).toBe(4);
      expect(plain.usage.completion_tokens).toBeLessThanOrEqual(16);
      const res = await post(server, "/v1/completions", { model: "llama", prompt: "Once upon a time", stream: true, stream_options: { include_usage: true } });
      const chunks = sseData(await res.text()).slice(0, -1).map((d) => JSON.parse(d));
      const text = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].text).join("");
      expect(text).toBe(plain.choices[0].text);
      expect(chunks.at(-1).usage).toEqual(plain.usage);
    });

    it("answers one choice per prompt per n", async () => {
      const body = await json(await post(server, "/v1/completions", { model: "llama", prompt: ["a", "bb"], n: 2, max_tokens: 2 }));
      expect(body.choices.map((c: Json) => c.index)).toEqual([0, 1, 2, 3]);
      expect(body.usage).toEqual({ prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 });
    });
  });

  describe("OpenAI embeddings and models", () => {
    it("returns unit vectors of the default or requested size with prompt usage", async () => {
      const body = await json(await post(server, "/v1/embeddings", { model: "embed", input: ["hello", "world!!!"] }));
      expect(body.object).toBe("list");
      expect(body.model).toBe("text-embed-3");
      expect(body.data).toHaveLength(2);
      const v: number[] = body.data[0].embedding;
      expect(v).toHaveLength(16);
      expect(Math.hypot(...v)).toBeCloseTo(1, 4);
      expect(body.usage).toEqual({ prompt_tokens: 2 + 2, total_tokens: 4 });
      const sized = await json(await post(server, "/v1/embeddings", { model: "embed", input: "hello", dimensions: 8 }));
      expect(sized.data[0].embedding).toHaveLength(8);
    });

    it("encodes base64 as little-endian float32 of the same vector", async () => {
      const floats = await json(await post(server, "/v1/embeddings", { model: "embed", input: "hello" }));
      const b64 = await json(await post(server, "/v1/embeddings", { model: "embed", input: "hello", encoding_format: "base64" }));
      const buf = Buffer.from(b64.data[0].embedding, "base64");
      const decoded = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
      decoded.forEach((x, i) => expect(x).toBeCloseTo(floats.data[0].embedding[i], 5));
    });

    it("lists ready models in OpenAI list format and retrieves one", async () => {
      const list = await json(await fetch(server.url + "/v1/models"));
      expect(list.object).toBe("list");
      expect(list.data.map((m: Json) => m.id)).toEqual(["llama-v1", "llama-v2", "text-embed-3"]);
      expect(list.data[0]).toMatchObject({ object: "model", owned_by: "demo-a", demo: { model: "llama", version: "v1" } });
      const one = await fetch(server.url + "/v1/models/llama-v1");
      expect(one.status).toBe(200);
      expect((await json(one)).id).toBe("llama-v1");
      expect((await fetch(server.url + "/v1/models/nope")).status).toBe(404);
    });
  });

  describe("KServe V2 and TorchServe", () => {
    it("answers live, ready, server and model metadata", async () => {
      expect(await json(await fetch(server.url + "/v2/health/live"))).toEqual({ live: true });
      expect(await json(await fetch(server.url + "/v2/health/ready"))).toEqual({ ready: true });
      expect((await json(await fetch(server.url + "/v2"))).name).toBe("demo-a");
      const ready = await fetch(server.url + "/v2/models/llama/versions/v1/ready");
      expect(ready.status).toBe(200);
      expect(ready.headers.get("x-demo-version")).toBe("v1");
      expect((await fetch(server.url + "/v2/models/llama/ready")).status).toBe(200);
      const meta = await json(await fetch(server.url + "/v2/models/llama"));
      expect(meta).toMatchObject({ name: "llama", versions: ["v1", "v2"], platform: "demo" });
      expect((await json(await fetch(server.url + "/v2/models/llama/versions/v1"))).versions).toEqual(["v1"]);
    });

    it("echoes inputs as identity outputs plus their sum", async () => {
      const request = {
        id: "req-7",
        inputs: [
          { name: "a", shape: [2, 2], datatype: "FP32", data: [[1, 2], [3, 4.5]] },
          { name: "b", shape: [2], datatype: "BOOL", data: [true, false] },
          { name: "c", shape: [1], datatype: "BYTES", data: ["text"] },
        ],
      };
      const res = await post(server, "/v2/models/llama/versions/v1/infer", request);
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body).toMatchObject({ model_name: "llama", model_version: "v1", id: "req-7", demo: { server: "demo-a", model: "llama", version: "v1" } });
      expect(body.outputs).toEqual([
        { name: "echo_a", datatype: "FP32", shape: [2, 2], data: [1, 2, 3, 4.5] },
        { name: "echo_b", datatype: "BOOL", shape: [2], data: [true, false] },
        { name: "echo_c", datatype: "BYTES", shape: [1], data: ["text"] },
        { name: "sum", datatype: "FP64", shape: [1], data: [11.5] },
      ]);
      const only = await json(await post(server, "/v2/models/llama/infer", { ...request, outputs: [{ name: "sum" }] }));
      expect(only.model_version).toBe("v2");
      expect(only.outputs.map((o: Json) => o.name)).toEqual(["sum"]);
    });

    it.each([
      [{ inputs: [] }, "inputs"],
      [{ inputs: [{ name: "a", shape: [3], datatype: "FP32", data: [1, 2] }] }, "needs 3"],
      [{ inputs: [{ name: "a", shape: [1], datatype: "FP32", data: ["x"] }] }, "datatype FP32"],
      [{ inputs: [{ name: "a", shape: [1], datatype: "FP99", data: [1] }] }, "datatype must be"],
      [{ inputs: [{ name: "a", shape: [1], datatype: "FP32", data: [1] }], outputs: [{ name: "zzz" }] }, "unknown output"],
    ])("rejects a bad infer request %j with a V2 error", async (request, fragment) => {
      const res = await post(server, "/v2/models/llama/infer", request);
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(typeof body.error).toBe("string");
      expect(body.error).toContain(fragment);
    });

    it("returns V2 404s for unknown models and versions", async () => {
      const model = await fetch(server.url + "/v2/models/nope/ready");
      expect(model.status).toBe(404);
      expect(await json(model)).toEqual({ error: "Model nope not found" });
      expect((await post(server, "/v2/models/llama/versions/v9/infer", { inputs: [] })).status).toBe(404);
    });

    it("answers TorchServe ping and deterministic predictions", async () => {
      expect(await json(await fetch(server.url + "/ping"))).toEqual({ status: "Healthy" });
      const a = await fetch(server.url + "/predictions/llama/v1", { method: "POST", body: new Uint8Array([0xff, 0xd8, 0x00]) });
      expect(a.status).toBe(200);
      expect(a.headers.get("x-demo-version")).toBe("v1");
      const first = await json(a);
      expect(first).toMatchObject({ model: "llama", version: "v1", input_bytes: 3 });
      const again = await json(await fetch(server.url + "/predictions/llama/v1", { method: "POST", body: new Uint8Array([0xff, 0xd8, 0x00]) }));
      expect(again.prediction).toEqual(first.prediction);
      const missing = await fetch(server.url + "/predictions/nope", { method: "POST", body: "x" });
      expect(missing.status).toBe(404);
      expect(await json(missing)).toMatchObject({ code: 404, type: "ModelNotFoundException" });
    });

    it("answers vLLM/TGI /health and Ollama /api/ps", async () => {
      expect(await json(await fetch(server.url + "/health"))).toEqual({ status: "ok" });
      const ps = await json(await fetch(server.url + "/api/ps"));
      expect(ps.models.map((m: Json) => m.name)).toEqual(["llama-v1", "llama-v2", "text-embed-3"]);
    });
  });

  describe("echo headers", () => {
    it("echo server, model, version, x-ai-* headers, body hash, body model and path", async () => {
      const payload = JSON.stringify({ ...CHAT, model: "llama@v1" });
      const res = await fetch(server.url + "/v1/chat/completions?trace=1", {
        method: "POST",
        body: payload,
        headers: { "x-ai-model": "llama", "x-ai-tenant": "t-42", "x-other": "no" },
      });
      expect(res.headers.get("x-demo-server")).toBe("demo-a");
      expect(res.headers.get("x-demo-model")).toBe("llama");
      expect(res.headers.get("x-demo-version")).toBe("v1");
      expect(JSON.parse(res.headers.get("x-demo-seen-ai-headers")!)).toEqual({ "x-ai-model": "llama", "x-ai-tenant": "t-42" });
      expect(res.headers.get("x-demo-body-sha256")).toBe(createHash("sha256").update(payload).digest("hex"));
      expect(res.headers.get("x-demo-body-model")).toBe("llama@v1");
      expect(res.headers.get("x-demo-path")).toBe("/v1/chat/completions?trace=1");
      expect(res.headers.get("x-demo-request-id")).toBe((await json(res)).id.replace(/^chatcmpl-/, ""));
    });

    it("echo on errors and health endpoints too, with {} when no x-ai-* header came", async () => {
      const res = await post(server, "/v1/chat/completions", { ...CHAT, model: "nope" });
      expect(res.status).toBe(404);
      expect(res.headers.get("x-demo-server")).toBe("demo-a");
      expect(res.headers.get("x-demo-body-model")).toBe("nope");
      expect(res.headers.get("x-demo-model")).toBeNull();
      const health = await fetch(server.url + "/health");
      expect(health.headers.get("x-demo-seen-ai-headers")).toBe("{}");
      expect(health.headers.get("x-demo-body-sha256")).toBe(createHash("sha256").update("").digest("hex"));
    });

    it("keep echoed values header-safe: percent-encoded model, \\u-escaped header JSON", async () => {
      const res = await fetch(server.url + "/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({ ...CHAT, model: "modèle 1" }),
        headers: { "x-ai-note": "caf\u00e9" },
      });
      expect(res.status).toBe(404);
      expect(res.headers.get("x-demo-body-model")).toBe("mod%C3%A8le%201");
      expect(res.headers.get("x-demo-seen-ai-headers")).toBe('{"x-ai-note":"caf\\u00e9"}');
      const escaped = await fetch(server.url + "/v2/models/llama%2Dx/ready");
      expect(escaped.headers.get("x-demo-path")).toBe("/v2/models/llama%2Dx/ready");
    });
  });

  describe("bad input", () => {
    it.each([
      ["malformed JSON", "{", 400, "invalid_json"],
      ["bad UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400, "invalid_utf8"],
      ["an empty body", "", 400, "invalid_json"],
      ["deep nesting", "[".repeat(200_000), 400, "invalid_json"],
      ["a non-object body", "[1,2]", 400, "invalid_type"],
      ["a missing model", JSON.stringify({ messages: CHAT.messages }), 400, "missing_required_parameter"],
      ["a non-string model", JSON.stringify({ ...CHAT, model: 7 }), 400, "invalid_type"],
      ["no messages", JSON.stringify({ model: "llama", messages: [] }), 400, "invalid_type"],
      ["max_tokens 0", JSON.stringify({ ...CHAT, max_tokens: 0 }), 400, "invalid_value"],
      ["stream_options without stream", JSON.stringify({ ...CHAT, stream_options: { include_usage: true } }), 400, "invalid_value"],
      ["an unknown model", JSON.stringify({ ...CHAT, model: "gpt-9" }), 404, "model_not_found"],
    ])("answers %s with an OpenAI error", async (_label, body, status, code) => {
      const res = await post(server, "/v1/chat/completions", body);
      expect(res.status).toBe(status);
      const err = await json(res);
      expect(Object.keys(err)).toEqual(["error"]);
      expect(Object.keys(err.error).sort()).toEqual(["code", "message", "param", "type"]);
      expect(err.error.code).toBe(code);
    });

    it("answers unknown paths with 404 JSON and wrong methods with 405 and allow", async () => {
      const unknown = await fetch(server.url + "/nope/%zz");
      expect(unknown.status).toBe(404);
      expect((await json(unknown)).error.code).toBe("not_found");
      const wrong = await fetch(server.url + "/v1/chat/completions");
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get("allow")).toBe("POST");
    });

    it("rejects a bad x-demo-fault header", async () => {
      const res = await post(server, "/v1/chat/completions", CHAT, { "x-demo-fault": "explode" });
      expect(res.status).toBe(400);
      expect((await json(res)).error.message).toContain("x-demo-fault");
    });

    it("answers malformed HTTP with a JSON 400 and keeps serving", async () => {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(server.port, "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
        let text = "";
        socket.on("data", (d) => (text += d));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400 /);
      expect(reply).toContain("x-demo-server: demo-a");
      expect((await fetch(server.url + "/v2/health/live")).status).toBe(200);
    });
  });

  describe("control endpoints", () => {
    it("counts requests per model and version, and resets", async () => {
      await fetch(server.url + "/_demo/stats", { method: "DELETE" });
      await post(server, "/v1/chat/completions", { ...CHAT, model: "llama@v1" });
      await post(server, "/v1/chat/completions", { ...CHAT, model: "llama@v1", max_tokens: 0 });
      await fetch(server.url + "/v2/models/llama/versions/v1/ready");
      const stats = await json(await fetch(server.url + "/_demo/stats"));
      expect(stats.models.llama.v1).toMatchObject({ upstream: "llama-v1", ready: true, requests: 2, ok: 1, rejected: 1, probes: 1 });
      expect(stats.models.llama.v2.requests).toBe(0);
      expect(stats.requests_total).toBe(4);
    });
  });
});

describe("demo-server readiness", () => {
  it("returns 503 from every model endpoint while loading, then becomes ready", async () => {
    await withServer({ models: "llama:v1", loadMs: 250 }, async (s) => {
      const chat = await post(s, "/v1/chat/completions", CHAT);
      expect(chat.status).toBe(503);
      expect(await json(chat)).toEqual(LOADING);
      for (const route of ["/v1/models", "/health", "/v2/models/llama"]) {
        const res = await fetch(s.url + route);
        expect(res.status).toBe(503);
        expect(await json(res)).toEqual(LOADING);
      }
      expect((await post(s, "/v2/models/llama/infer", "not even json")).status).toBe(503);
      expect((await fetch(s.url + "/v2/health/ready")).status).toBe(503);
      expect((await fetch(s.url + "/v2/models/llama/ready")).status).toBe(503);
      expect((await fetch(s.url + "/ping")).status).toBe(500);
      expect((await json(await fetch(s.url + "/api/ps"))).models).toEqual([]);
      expect((await fetch(s.url + "/v2/health/live")).status).toBe(200);
      expect((await fetch(s.url + "/_demo/stats")).status).toBe(200);

      await poll(async () => (await fetch(s.url + "/v2/health/ready")).status === 200);
      expect((await post(s, "/v1/chat/completions", CHAT)).status).toBe(200);
      expect((await fetch(s.url + "/health")).status).toBe(200);
      expect((await json(await fetch(s.url + "/_demo/stats"))).unavailable_while_loading).toBe(4);
    });
  });

  it("uses the configured status for V2 readiness, like MLServer's 400", async () => {
    await withServer({ models: "iris:v1", loadMs: 60_000, notReadyStatus: 400 }, async (s) => {
      expect((await fetch(s.url + "/v2/health/ready")).status).toBe(400);
      expect((await fetch(s.url + "/v2/models/iris/versions/v1/ready")).status).toBe(400);
    });
  });

  it("flips one version's readiness through /_demo/state", async () => {
    await withServer({ models: "llama:v1,llama:v2" }, async (s) => {
      const flip = await post(s, "/_demo/state", { model: "llama", version: "v2", ready: false });
      expect(flip.status).toBe(200);
      expect((await json(flip)).models.map((m: Json) => m.ready)).toEqual([true, false]);
      const chat = await post(s, "/v1/chat/completions", { ...CHAT, model: "llama@v2" });
      expect(chat.status).toBe(503);
      expect(chat.headers.get("x-demo-version")).toBe("v2");
      expect(await json(chat)).toEqual(LOADING);
      expect((await fetch(s.url + "/v2/models/llama/versions/v2/ready")).status).toBe(503);
      expect((await fetch(s.url + "/v2/models/llama/versions/v1/ready")).status).toBe(200);
      expect((await fetch(s.url + "/v2/health/ready")).status).toBe(503);
      expect((await json(await fetch(s.url + "/v1/models"))).data.map((m: Json) => m.id)).toEqual(["llama-v1"]);
      expect((await post(s, "/v1/chat/completions", { ...CHAT, model: "llama@v1" })).status).toBe(200);

      await post(s, "/_demo/state", { model: "llama", ready: true });
      expect((await post(s, "/v1/chat/completions", { ...CHAT, model: "llama@v2" })).status).toBe(200);

      await post(s, "/_demo/state", { loaded: false });
      expect((await post(s, "/v1/chat/completions", CHAT)).status).toBe(503);
      await post(s, "/_demo/state", { loaded: true });
      expect((await post(s, "/v1/chat/completions", CHAT)).status).toBe(200);
    });
  });

  it.each([
    [{ ready: "yes" }, 400],
    [{ bogus: 1 }, 400],
    [{ version: "v1" }, 400],
    [{ model: "nope", ready: false }, 404],
    ["not json", 400],
    ['{"__proto__":{"ready":true}}', 400],
  ])("rejects state update %j", async (body, status) => {
    await withServer({ models: "llama:v1" }, async (s) => {
      expect((await post(s, "/_demo/state", body)).status).toBe(status);
    });
  });
});

describe("demo-server warmup and latency", () => {
  it("slows the first N inference requests of each version", async () => {
    await withServer({ models: "llama:v1,llama:v2", warmupRequests: 2, warmupMs: 120 }, async (s) => {
      const timed = async (model: string) => {
        const start = performance.now();
        const res = await post(s, "/v1/chat/completions", { ...CHAT, model });
        await res.text();
        return { warm: res.headers.get("x-demo-warmup"), ms: performance.now() - start };
      };
      const v1 = [await timed("llama@v1"), await timed("llama@v1"), await timed("llama@v1")];
      expect(v1.map((r) => r.warm)).toEqual(["true", "true", "false"]);
      expect(v1[0].ms).toBeGreaterThan(v1[2].ms);
      expect(v1[1].ms).toBeGreaterThan(v1[2].ms);
      // Warmup is per version: v2 starts cold.
      expect((await timed("llama@v2")).warm).toBe("true");
      const stats = await json(await fetch(s.url + "/_demo/stats"));
      expect(stats.models.llama.v1).toMatchObject({ warmup: 2, warmup_remaining: 0 });
      expect(stats.models.llama.v2).toMatchObject({ warmup: 1, warmup_remaining: 1 });
      // Bad requests do not use up warmup.
      await post(s, "/v1/chat/completions", { ...CHAT, model: "llama@v2", max_tokens: -1 });
      expect((await json(await fetch(s.url + "/_demo/stats"))).models.llama.v2.warmup_remaining).toBe(1);
    });
  });

  it("adds per-request latency from x-demo-latency-ms", async () => {
    await withServer({}, async (s) => {
      const time = async (headers: Record<string, string>) => {
        const start = performance.now();
        await (await post(s, "/v1/chat/completions", { ...CHAT, model: "demo" }, headers)).text();
        return performance.now() - start;
      };
      const slow = await time({ "x-demo-latency-ms": "100" });
      const fast = await time({});
      expect(slow).toBeGreaterThan(fast);
    });
  });

  it("reports the usage x-demo-usage-tokens claims, in a body and in a stream's usage chunk", async () => {
    await withServer({}, async (s) => {
      const plain = await json(await post(s, "/v1/chat/completions", { ...CHAT, model: "demo" }));
      const big = 5_000_000_000;
      const claimed = await json(await post(s, "/v1/chat/completions", { ...CHAT, model: "demo" }, { "x-demo-usage-tokens": String(big) }));
      expect(claimed.usage).toEqual({ prompt_tokens: plain.usage.prompt_tokens, completion_tokens: big, total_tokens: plain.usage.prompt_tokens + big });
      // The answer itself is what it would have been.
      expect(claimed.choices).toEqual(plain.choices);
      const res = await post(s, "/v1/chat/completions", { ...CHAT, model: "demo", stream: true, stream_options: { include_usage: true } }, { "x-demo-usage-tokens": "7" });
      const events = sseData(await res.text());
      expect(JSON.parse(events.at(-2)!).usage).toEqual({ prompt_tokens: plain.usage.prompt_tokens, completion_tokens: 7, total_tokens: plain.usage.prompt_tokens + 7 });
      for (const bad of ["-1", "1.5", "9007199254740992", "x"]) {
        const refused = await post(s, "/v1/chat/completions", { ...CHAT, model: "demo" }, { "x-demo-usage-tokens": bad });
        expect(refused.status, bad).toBe(400);
        expect((await json(refused)).error.message).toContain("x-demo-usage-tokens");
      }
    });
  });

  it("spaces SSE chunks by chunk-ms so they arrive separately", async () => {
    await withServer({ chunkMs: 5 }, async (s) => {
      const res = await post(s, "/v1/chat/completions", { ...CHAT, model: "demo", stream: true, max_tokens: 4 });
      const reader = res.body!.getReader();
      let reads = 0;
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        reads++;
        text += new TextDecoder().decode(value);
      }
      expect(sseData(text).at(-1)).toBe("[DONE]");
      expect(reads).toBeGreaterThan(1);
    });
  });
});

describe("demo-server faults", () => {
  type Outcome = "ok" | "error" | "drop";
  async function outcomes(options: DemoServerOptions, count: number): Promise<Outcome[]> {
    const out: Outcome[] = [];
    await withServer({ models: "llama:v1", ...options }, async (s) => {
      for (let i = 0; i < count; i++) {
        try {
          const res = await post(s, "/v1/chat/completions", CHAT);
          const body = await json(res);
          if (res.status === 500) {
            expect(body.error).toMatchObject({ type: "server_error", code: "internal_error" });
            out.push("error");
          } else {
            expect(res.status).toBe(200);
            out.push("ok");
          }
        } catch {
          out.push("drop");
        }
      }
      const stats = (await json(await fetch(s.url + "/_demo/stats"))).models.llama.v1;
      expect(stats.errors).toBe(out.filter((o) => o === "error").length);
      expect(stats.drops).toBe(out.filter((o) => o === "drop").length);
    });
    return out;
  }

  it("draws errors and drops reproducibly from the seed", async () => {
    const options = { errorRate: 0.3, dropRate: 0.15, seed: 42 };
    const first = await outcomes(options, 30);
    const second = await outcomes(options, 30);
    expect(second).toEqual(first);
    expect(first).toContain("ok");
    expect(first).toContain("error");
    expect(first).toContain("drop");
    expect(await outcomes({ ...options, seed: 43 }, 30)).not.toEqual(first);
  });

  it("never faults with rates of 0", async () => {
    expect(new Set(await outcomes({}, 10))).toEqual(new Set(["ok"]));
  });

  it("forces outcomes with x-demo-fault", async () => {
    await withServer({ models: "llama:v1", errorRate: 1 }, async (s) => {
      expect((await post(s, "/v1/chat/completions", CHAT, { "x-demo-fault": "none" })).status).toBe(200);
      const limited = await post(s, "/v1/chat/completions", CHAT, { "x-demo-fault": "status=429" });
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("1");
      expect((await json(limited)).error.code).toBe("injected_status");
      const v2 = await post(s, "/v2/models/llama/infer", { inputs: [{ name: "a", shape: [1], datatype: "FP32", data: [1] }] }, { "x-demo-fault": "error" });
      expect(v2.status).toBe(500);
      expect(typeof (await json(v2)).error).toBe("string");
      await expect(post(s, "/v1/chat/completions", CHAT, { "x-demo-fault": "drop" })).rejects.toThrow();
    });
  });

  it("truncates streamed and plain responses with x-demo-fault: truncate", async () => {
    await withServer({ models: "llama:v1" }, async (s) => {
      const stream = await post(s, "/v1/chat/completions", { ...CHAT, stream: true }, { "x-demo-fault": "truncate" });
      expect(stream.status).toBe(200);
      await expect(stream.text()).rejects.toThrow();
      const plain = await post(s, "/v1/chat/completions", CHAT, { "x-demo-fault": "truncate" });
      expect(plain.status).toBe(200);
      await expect(plain.text()).rejects.toThrow();
      expect((await json(await fetch(s.url + "/_demo/stats"))).models.llama.v1.truncated).toBe(2);
    });
  });
});

describe("demo-server limits and lifecycle", () => {
  it("answers 413 above the body limit", async () => {
    await withServer({ maxBodyBytes: 1024 }, async (s) => {
      const small = await post(s, "/v1/chat/completions", { ...CHAT, model: "demo" });
      expect(small.status).toBe(200);
      const big = await post(s, "/v1/chat/completions", { ...CHAT, model: "demo", pad: "x".repeat(300_000) });
      expect(big.status).toBe(413);
      expect((await json(big)).error.code).toBe("request_too_large");
      expect((await fetch(s.url + "/v2/health/live")).status).toBe(200);
    });
  });

  it.each([
    [{ models: "llama" }, "models"],
    [{ models: "a:v1,a:v1" }, "once"],
    [{ errorRate: 2 }, "errorRate"],
    [{ port: -1 }, "port"],
    [{ colour: "red" } as DemoServerOptions, "unknown option"],
  ])("refuses bad options %j naming the option", async (options, fragment) => {
    await expect(startDemoServer(options)).rejects.toThrow(fragment);
  });

  it("closes promptly with a request waiting in its latency delay", async () => {
    const s = await startDemoServer({ latencyMs: 60_000 });
    const pending = post(s, "/v1/chat/completions", { ...CHAT, model: "demo" }).then(
      () => "answered",
      () => "cut",
    );
    await poll(async () => (await json(await fetch(s.url + "/_demo/stats"))).models.demo.v1.requests === 1);
    await s.close();
    expect(await pending).toBe("cut");
    await expect(fetch(s.url + "/v2/health/live")).rejects.toThrow();
  });
});

describe("demo-server CLI", () => {
  function run(args: string[]): { lines: Promise<string>; exit: Promise<{ code: number | null; stderr: string }>; kill: () => void } {
    const child = spawn(process.execPath, [SERVER_MJS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const lines = new Promise<string>((resolve) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
      });
    });
    const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
    return { lines, exit, kill: () => child.kill("SIGTERM") };
  }

  it("prints the listening URL as JSON, serves, and exits 0 on SIGTERM", async () => {
    const cli = run(["--port", "0", "--host", "127.0.0.1", "--name", "cli-a", "--models", "llama:v1=Llama-3-8B", "--seed", "7"]);
    const started = JSON.parse(await cli.lines);
    expect(started).toMatchObject({ event: "listening", name: "cli-a", models: ["llama:v1=Llama-3-8B"] });
    expect(started.url).toBe(`http://127.0.0.1:${started.port}`);
    const list = await json(await fetch(started.url + "/v1/models"));
    expect(list.data[0].id).toBe("Llama-3-8B");
    cli.kill();
    expect((await cli.exit).code).toBe(0);
  });

  it.each([
    [["--error-rate", "2"], "--error-rate"],
    [["--load-ms", "soon"], "--load-ms"],
    [["--colour", "red"], "colour"],
  ])("exits 2 on bad flags %j naming the flag", async (args, fragment) => {
    const { code, stderr } = await run(args).exit;
    expect(code).toBe(2);
    expect(stderr).toContain(fragment);
  });
});
