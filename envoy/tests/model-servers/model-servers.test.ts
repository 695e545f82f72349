// The real model servers of the integration suite (envoy/model-servers/README.md): llama.cpp's
// llama-server built from node-llama-cpp's bundled source with generated GGUF models, and Seldon
// MLServer with two versions of an iris classifier and a slow-loading model. Pins down what the
// warmup-health filter will see: the statuses and bodies while a model loads, once it is ready,
// and when the server is gone. Loopback only; every wait has a deadline.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import {
  ROOT,
  addLogSource,
  portOpen,
  printEnvoyLogsOnFailure,
  probe,
  routerModelStatus,
  startLlamaServer,
  startMlServer,
  watchStatus,
  type Answer,
  type LlamaServer,
  type MlServer,
  type ModelServer,
  type Observation,
} from "../../harness";

const README = readFileSync(path.join(ROOT, "envoy/model-servers/README.md"), "utf8");

/** llama-server's answer on every endpoint while its model loads. */
const LOADING = { status: 503, body: '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}' };

printEnvoyLogsOnFailure();

const removeLogSources: (() => void)[] = [];
afterAll(() => removeLogSources.forEach((remove) => remove()));

/** A server whose log a failing test prints. */
function track<T extends ModelServer>(server: T): T {
  removeLogSources.push(addLogSource(`${server.name} ${server.url}`, server.logs));
  return server;
}

async function post(url: string, body: unknown): Promise<{ status: number; text: string; json: () => any }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

const chat = (extra: Record<string, unknown> = {}) => ({
  messages: [{ role: "user", content: "Say hello." }],
  max_tokens: 8,
  temperature: 0,
  ...extra,
});

/** The `data:` payloads of an SSE body, in order. */
function sseData(body: string): string[] {
  return body
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => l.slice(6));
}

function describeSeen(seen: Observation[]): string {
  return seen.map((o) => `${o.atMs} ms ${o.status ?? o.error} ${o.body.slice(0, 100)}`).join("\n");
}

describe("llama-server", () => {
  describe("one model per server (two versions: two seeds)", () => {
    let v1: LlamaServer;
    let v2: LlamaServer;

    beforeAllOrFailEach(async () => {
      v1 = track(await startLlamaServer({ model: "tiny-v1", alias: "tiny-v1", name: "llama-tiny-v1" }));
      v2 = track(await startLlamaServer({ model: "tiny-v2", alias: "tiny-v2", name: "llama-tiny-v2" }));
    });

    afterAll(async () => {
      await Promise.all([v1?.close(), v2?.close()]);
    });

    it("answers /health and /v1/health with 200 {status: ok} once loaded", async () => {
      for (const p of ["/health", "/v1/health"]) expect(await probe(`${v1.url}${p}`)).toEqual({ status: 200, body: '{"status":"ok"}' });
    });

    it("lists its alias in /v1/models", async () => {
      for (const [server, alias] of [[v1, "tiny-v1"], [v2, "tiny-v2"]] as const) {
        const answer = await probe(`${server.url}/v1/models`);
        expect(answer.status).toBe(200);
        const list = JSON.parse(answer.body) as { object: string; data: { id: string }[] };
        expect(list.object).toBe("list");
        expect(list.data.map((m) => m.id)).toEqual([alias]);
      }
    });

    it("answers a chat completion at temperature 0 with usage, the same text twice", async () => {
      const first = await post(`${v1.url}/v1/chat/completions`, chat());
      expect(first.status, first.text).toBe(200);
      const a = first.json();
      expect(a.object).toBe("chat.completion");
      expect(a.model).toBe("tiny-v1");
      expect(a.usage.completion_tokens).toBeGreaterThan(0);
      expect(a.usage.prompt_tokens).toBeGreaterThan(0);
      expect(a.usage.total_tokens).toBe(a.usage.prompt_tokens + a.usage.completion_tokens);
      const b = (await post(`${v1.url}/v1/chat/completions`, chat())).json();
      expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    });

    it("answers with its alias whatever model the request names (single-model mode does not check it)", async () => {
      const res = await post(`${v1.url}/v1/chat/completions`, chat({ model: "tiny-v2" }));
      expect(res.status).toBe(200);
      expect(res.json().model).toBe("tiny-v1");
    });

    it("ends a stream with a usage chunk (choices []) and [DONE] when stream_options.include_usage is set", async () => {
      const res = await post(`${v1.url}/v1/chat/completions`, chat({ stream: true, stream_options: { include_usage: true } }));
      expect(res.status).toBe(200);
      const data = sseData(res.text);
      expect(data.at(-1)).toBe("[DONE]");
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      const last = chunks.at(-1);
      expect(last.choices).toEqual([]);
      expect(last.usage.completion_tokens).toBeGreaterThan(0);
      // Only the last chunk carries usage.
      expect(chunks.slice(0, -1).filter((c) => c.usage !== undefined)).toEqual([]);
      const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
      expect(text).toBe((await post(`${v1.url}/v1/chat/completions`, chat())).json().choices[0].message.content);
    });

    it("streams without usage when include_usage is not set", async () => {
      const res = await post(`${v1.url}/v1/chat/completions`, chat({ stream: true }));
      const chunks = sseData(res.text).slice(0, -1).map((d) => JSON.parse(d));
      expect(chunks.filter((c) => c.usage !== undefined)).toEqual([]);
    });

    it("serves both versions, which answer differently", async () => {
      const [a, b] = await Promise.all([post(`${v1.url}/v1/chat/completions`, chat()), post(`${v2.url}/v1/chat/completions`, chat())]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect([a.json().model, b.json().model]).toEqual(["tiny-v1", "tiny-v2"]);
      expect(a.json().choices[0].message.content).not.toBe(b.json().choices[0].message.content);
    });
  });

  describe("while the model loads", () => {
    let slow: LlamaServer;
    let first: Record<string, Answer>;
    let seen: Observation[];

    beforeAllOrFailEach(async () => {
      slow = track(await startLlamaServer({ loadSlowly: true, alias: "slow", wait: "listening", name: "llama-slow" }));
      // The port opens at once; ask every kind of endpoint before the model can be loaded.
      const [health, models, completion] = await Promise.all([
        probe(`${slow.url}/health`),
        probe(`${slow.url}/v1/models`),
        post(`${slow.url}/v1/chat/completions`, chat()).then((r) => ({ status: r.status, body: r.text })),
      ]);
      first = { health, models, completion };
      seen = await watchStatus(`${slow.url}/health`, { until: (a) => a.status === 200, timeoutMs: 90_000, exited: slow.exitInfo });
    }, 120_000);

    afterAll(async () => {
      await slow?.close();
    });

    it("answers 503 Loading model on /health, /v1/models and /v1/chat/completions", () => {
      expect(first.health).toEqual(LOADING);
      expect(first.models).toEqual(LOADING);
      expect(first.completion).toEqual(LOADING);
      expect(README).toContain(LOADING.body);
    });

    it("goes from 503 Loading model straight to 200 on /health", () => {
      expect(seen.map((o) => [o.status, o.body]), describeSeen(seen)).toEqual([
        [503, LOADING.body],
        [200, '{"status":"ok"}'],
      ]);
      // Long enough for a prober to see it (about 2 to 8 s here; the README has the measured range).
      expect(seen[1].atMs, describeSeen(seen)).toBeGreaterThan(200);
    });

    it("serves once /health says 200", async () => {
      const res = await post(`${slow.url}/v1/chat/completions`, chat({ max_tokens: 2 }));
      expect(res.status, res.text).toBe(200);
      expect(res.json().model).toBe("slow");
    });
  });

  describe("router mode (--models-dir with tiny-v1 and tiny-v2, no autoload)", () => {
    let router: LlamaServer;

    beforeAllOrFailEach(async () => {
      router = track(await startLlamaServer({ modelsDir: "cache", name: "llama-router" }));
    });

    afterAll(async () => {
      await router?.close();
    });

    it("answers /health 200 with no model loaded and lists both models as unloaded", async () => {
      expect(await probe(`${router.url}/health`)).toEqual({ status: 200, body: '{"status":"ok"}' });
      const models = await probe(`${router.url}/models`);
      expect(models.status).toBe(200);
      expect(["tiny-v1", "tiny-v2"].map((id) => routerModelStatus(models.body, id))).toEqual(["unloaded", "unloaded"]);
    });

    it("answers 400 for a model that is not loaded and for an unknown one", async () => {
      const unloaded = await post(`${router.url}/v1/chat/completions`, chat({ model: "tiny-v2" }));
      expect([unloaded.status, unloaded.text]).toEqual([400, '{"error":{"code":400,"message":"model is not loaded","type":"invalid_request_error"}}']);
      const unknown = await post(`${router.url}/v1/chat/completions`, chat({ model: "nope" }));
      expect([unknown.status, unknown.text]).toEqual([400, `{"error":{"code":400,"message":"model 'nope' not found","type":"invalid_request_error"}}`]);
    });

    it("loads a model on POST /models/load and serves it by its exact name", async () => {
      await router.loadModel("tiny-v1");
      const res = await post(`${router.url}/v1/chat/completions`, chat({ model: "tiny-v1" }));
      expect(res.status, res.text).toBe(200);
      expect(res.json().model).toBe("tiny-v1");
      const again = await post(`${router.url}/models/load`, { model: "tiny-v1" });
      expect([again.status, again.text]).toEqual([400, '{"error":{"code":400,"message":"model is already running","type":"invalid_request_error"}}']);
    });

    it("serves both versions side by side, each by its name", async () => {
      await router.loadModel("tiny-v2");
      const [a, b] = await Promise.all(["tiny-v1", "tiny-v2"].map((model) => post(`${router.url}/v1/chat/completions`, chat({ model }))));
      expect([a.status, b.status]).toEqual([200, 200]);
      expect([a.json().model, b.json().model]).toEqual(["tiny-v1", "tiny-v2"]);
      expect(a.json().choices[0].message.content).not.toBe(b.json().choices[0].message.content);
    });
  });

  describe("a killed server", () => {
    it("refuses connections on its port", async () => {
      const server = track(await startLlamaServer({ model: "tiny-v1", alias: "tiny-v1", name: "llama-killed" }));
      try {
        expect((await probe(`${server.url}/health`)).status).toBe(200);
        await server.kill();
        expect(server.exitInfo()).toMatch(/signal SIGKILL/);
        expect(await probe(`${server.url}/health`)).toMatchObject({ status: null, error: "ECONNREFUSED" });
        expect(await portOpen(server.port)).toBe(false);
      } finally {
        await server.close();
      }
    });
  });
});

describe("MLServer", () => {
  const SLOW_SECONDS = 10;
  let ml: MlServer;
  /** Answers right after the HTTP server came up, while "slow" still loads. */
  let loading: Record<string, Answer>;
  let readySeen: Observation[];

  beforeAllOrFailEach(async () => {
    ml = track(
      await startMlServer({
        models: [
          { kind: "iris", version: "v1" },
          { kind: "iris", version: "v2" },
          { kind: "slow", version: "v1", loadSeconds: SLOW_SECONDS },
        ],
        wait: "listening",
      }),
    );
    // The iris versions load in well under a second; "slow" sleeps SLOW_SECONDS in load().
    for (const v of ["v1", "v2"]) await watchStatus(`${ml.url}${ml.modelPath("iris", v)}/ready`, { until: (a) => a.status === 200, timeoutMs: 30_000, exited: ml.exitInfo });
    const paths = {
      healthReady: "/v2/health/ready",
      slowReady: ml.modelPath("slow") + "/ready",
      slowVersionReady: ml.modelPath("slow", "v1") + "/ready",
      irisV1Ready: ml.modelPath("iris", "v1") + "/ready",
      irisV2Ready: ml.modelPath("iris", "v2") + "/ready",
    };
    const entries = await Promise.all(Object.entries(paths).map(async ([k, p]) => [k, await probe(`${ml.url}${p}`)] as const));
    const infer = (version?: string) =>
      post(`${ml.url}${ml.modelPath("slow", version)}/infer`, { inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] }).then((r) => ({ status: r.status, body: r.text }));
    loading = { ...Object.fromEntries(entries), slowInfer: await infer(), slowVersionInfer: await infer("v1") };
    readySeen = await watchStatus(`${ml.url}/v2/health/ready`, { until: (a) => a.status === 200, timeoutMs: 90_000, exited: ml.exitInfo });
  }, 180_000);

  afterAll(async () => {
    await ml?.close();
  });

  describe("while a model loads", () => {
    it("answers 400 with an empty body on /v2/health/ready and on the loading model's ready endpoints", () => {
      for (const k of ["healthReady", "slowReady", "slowVersionReady"]) expect([k, loading[k]]).toEqual([k, { status: 400, body: "" }]);
    });

    it("answers 200 for the versions that are loaded", () => {
      expect(loading.irisV1Ready).toEqual({ status: 200, body: "" });
      expect(loading.irisV2Ready).toEqual({ status: 200, body: "" });
    });

    it("answers 400 with a JSON error to an inference on the loading model", () => {
      const bodies = ['{"error":"Model slow is not ready yet."}', '{"error":"Model slow with version v1 is not ready yet."}'];
      expect(loading.slowInfer).toEqual({ status: 400, body: bodies[0] });
      expect(loading.slowVersionInfer).toEqual({ status: 400, body: bodies[1] });
      for (const body of bodies) expect(README).toContain(body);
    });

    it("goes from 400 to 200 on /v2/health/ready when the load ends", () => {
      expect(readySeen.map((o) => [o.status, o.body]), describeSeen(readySeen)).toEqual([
        [400, ""],
        [200, ""],
      ]);
    });
  });

  describe("once every model is loaded", () => {
    it("answers 200 on the ready endpoints of both iris versions, of the model and of the server", async () => {
      for (const p of ["/v2/health/live", "/v2/health/ready", ml.modelPath("iris") + "/ready", ml.modelPath("iris", "v1") + "/ready", ml.modelPath("iris", "v2") + "/ready", ml.modelPath("slow") + "/ready"]) {
        expect([p, await probe(`${ml.url}${p}`)]).toEqual([p, { status: 200, body: "" }]);
      }
    });

    it("answers 404 with a JSON error for an unknown version or model", async () => {
      expect(await probe(`${ml.url}${ml.modelPath("iris", "v3")}/ready`)).toEqual({ status: 404, body: '{"error":"Model iris with version v3 not found"}' });
      expect(await probe(`${ml.url}${ml.modelPath("nope")}/ready`)).toEqual({ status: 404, body: '{"error":"Model nope not found"}' });
    });

    it("infers with each version and names the version in the answer", async () => {
      const request = { inputs: [{ name: "x", shape: [2, 4], datatype: "FP64", data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3] }] };
      for (const version of ["v1", "v2"]) {
        const res = await post(`${ml.url}${ml.modelPath("iris", version)}/infer`, request);
        expect(res.status, res.text).toBe(200);
        const out = res.json();
        expect([out.model_name, out.model_version]).toEqual(["iris", version]);
        expect(out.outputs[0].data).toEqual([0, 2]); // setosa, virginica
      }
      // Without a version, the newest answers.
      const res = await post(`${ml.url}${ml.modelPath("iris")}/infer`, request);
      expect(res.json().model_version).toBe("v2");
    });

    it("infers with the slow model once it is loaded", async () => {
      const res = await post(`${ml.url}${ml.modelPath("slow", "v1")}/infer`, { inputs: [{ name: "x", shape: [2], datatype: "FP32", data: [1, 2.5] }] });
      expect(res.status, res.text).toBe(200);
      expect(res.json().outputs[0].data).toEqual([2, 5]);
    });
  });

  describe("killed", () => {
    it("refuses connections on its port", async () => {
      await ml.kill();
      expect(ml.exitInfo()).toMatch(/signal SIGKILL/);
      expect(await probe(`${ml.url}/v2/health/live`)).toMatchObject({ status: null, error: "ECONNREFUSED" });
      expect(await portOpen(ml.port)).toBe(false);
    });
  });
});
