// A client's x-ai-model, x-ai-model-version and x-ai-tenant at a token-bucket entry without the
// router in front (the filter alone, or the router's entry off on the route with Envoy's
// FilterConfig): the entry cannot tell them from the router's by the headers, so it keeps them only
// on a stream the router marked (filter state wasm.ai_model_routed, which no client can send). A
// new made-up model name per request must not be a fresh bucket; behind the router the headers
// still name the bucket.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, type Envoy, type HttpResponse, type RepeatedHeadersRequest } from "../../harness";
import { startBucketEnvoy, startModelServer, wasmFailures, type ModelServerHandle } from "./envoy";

printEnvoyLogsOnFailure();

// One request a minute for llama, and the same for any other model name (a default).
const BUCKETS = { default_max_tokens: 16, models: { llama: { tenant: { requests_per_minute: 1 } } }, default: { tenant: { requests_per_minute: 1 } } };
const CLIENTS: Array<[string, (base: string, req: RepeatedHeadersRequest) => Promise<HttpResponse>]> = [["HTTP/1.1", http1Request], ["HTTP/2 (h2c)", h2cRequest]];

let server: ModelServerHandle;
let alone: Envoy;
let separate: Envoy;

beforeAllOrFailEach(async () => {
  server = await startModelServer();
  alone = await startBucketEnvoy({ form: "alone", bucketConfig: BUCKETS, modelServerPort: server.port, name: "token-bucket-forged-alone" });
  separate = await startBucketEnvoy({ form: "separate", bucketConfig: BUCKETS, modelServerPort: server.port, name: "token-bucket-forged-separate" });
});

afterAll(async () => {
  closeHttp1Connections();
  await alone?.stop();
  await separate?.stop();
  await server?.close();
});

let runs = 0;
const chat = (i: number, tenant: string, extra: Record<string, string>): RepeatedHeadersRequest => ({
  method: "POST",
  path: "/v1/chat/completions",
  headers: { "content-type": "application/json", authorization: `Bearer ${tenant}`, ...extra },
  body: JSON.stringify({ model: "llama", messages: [{ role: "user", content: `question ${i}` }], max_tokens: 4 }),
});

describe("token-bucket through Envoy: a client's x-ai-* headers", () => {
  describe.each(CLIENTS)("over %s", (_, send) => {
    it("are removed without the router in front: a new x-ai-model per request finds no fresh bucket", async () => {
      const tenant = `forger-${process.pid}-${++runs}`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await send(alone.listenerUrl, chat(i, tenant, { "x-ai-model": `made-up-${i}`, "x-ai-model-version": `v${i}`, "x-ai-tenant": "someone-else" }));
        statuses.push(res.status);
      }
      // Charged to the body's llama, one a minute: before the fix, 200 three times.
      expect(statuses).toEqual([200, 429, 429]);
      expect(wasmFailures(alone.logs())).toEqual([]);
    });

    it("are the router's behind the router's entry: its resolved model names the bucket", async () => {
      const tenant = `routed-${process.pid}-${++runs}`;
      const first = await send(separate.listenerUrl, chat(0, tenant, { "x-ai-model": "made-up" }));
      expect(first.status).toBe(200);
      expect(first.headers["x-ratelimit-remaining-requests"]).toBe("0");
      const second = await send(separate.listenerUrl, chat(1, tenant, { "x-ai-model": "made-up-too" }));
      expect(second.status).toBe(429);
      expect(wasmFailures(separate.logs())).toEqual([]);
    });
  });
});
