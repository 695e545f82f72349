// A fake model server for warmup-health's emulator tests: one Envoy cluster answering readiness
// probes and warmup requests the way the real servers do (host-tests/../shared reference:
// llama-server and KServe 503 while loading, MLServer 400), switchable between loading, ready,
// failing, hanging, resetting and garbage answers, and recording what reached it and when.
import type { Host } from "../emulator";
import type { HttpCallReply, HttpCallRequest } from "../emulator/http-calls";

export type Mode =
  /** 503 to readiness, as llama-server and KServe while loading. */
  | "loading"
  | "ready"
  /** 500 to everything (a broken server). */
  | "failing"
  /** Never answers. */
  | "hang"
  /** Resets every connection. */
  | "reset"
  /** 200 to readiness, but the model list is not JSON. */
  | "garbage"
  /** 200 to readiness, with a model list of `hugeBytes`. */
  | "huge";

export class FakeServer {
  mode: Mode = "loading";
  /** Model ids listed at /v1/models when ready. */
  models: string[];
  /** Latency of warmup requests' answers. */
  warmupDelayMs = 0;
  /** Latency of readiness answers. */
  probeDelayMs = 0;
  warmupStatus = 200;
  hugeBytes = 4 << 20;
  readonly calls: Array<{ at: number; method: string; path: string; vm: string; body: string; headers: Record<string, string> }> = [];

  constructor(readonly host: Host, readonly cluster: string, models: string[] = ["llama"]) {
    this.models = models;
    host.addCluster(cluster, (req) => this.answer(req));
  }

  /** Calls that reached the server, as "METHOD path". */
  paths(since = 0): string[] {
    return this.calls.filter((c) => c.at >= since).map((c) => `${c.method} ${c.path}`);
  }

  private answer(req: HttpCallRequest): HttpCallReply {
    this.calls.push({ at: this.host.now, method: req.method, path: req.path, vm: req.vm, body: req.body, headers: req.headers });
    const mode = this.mode;
    if (mode === "hang") return { hang: true };
    if (mode === "reset") return { reset: true };
    const warmup = req.method === "POST";
    if (mode === "failing") return { status: 500, body: "internal error", delayMs: warmup ? this.warmupDelayMs : this.probeDelayMs };
    if (warmup) {
      if (mode === "loading") return { status: 503, body: '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}' };
      return { status: this.warmupStatus, headers: { "content-type": "application/json" }, body: '{"choices":[]}', delayMs: this.warmupDelayMs };
    }
    const delayMs = this.probeDelayMs;
    if (mode === "loading") return { status: 503, body: '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}', delayMs };
    if (req.path === "/v1/models") {
      if (mode === "garbage") return { status: 200, body: '{"data": [{"id": "llama"', delayMs };
      if (mode === "huge") return { status: 200, body: new Uint8Array(this.hugeBytes).fill(0x20), delayMs };
      return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ object: "list", data: this.models.map((id) => ({ id, object: "model" })) }), delayMs };
    }
    return { status: 200, body: "", delayMs };
  }
}
