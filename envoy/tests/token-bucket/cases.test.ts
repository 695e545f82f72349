// token-bucket's case table (host-tests/token-bucket/cases.ts) through a real Envoy, in every form
// (one ai-gateway pipeline entry; model-router and token-bucket as two entries of one VM; the
// filter alone) and over HTTP/1.1 and HTTP/2 (h2c) on the same listener. The upstream is the
// table's ModelServer behind node:http (each reply chunk a separate write); the filter state
// wasm.llm_tokens is read from Envoy's access log. The checks are the emulator's (checkStep).
//
// Buckets live in Envoy's shared data for the process's lifetime, and some cases change the
// configuration (clamping, shadow mode, a model total), so every case gets an Envoy of its own
// (it starts in well under a second). Tenants get a prefix per run all the same, as the table asks.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, type Envoy, type HttpResponse, type RepeatedHeadersRequest } from "../../harness";
import { CASES, TOKEN_BUCKET_CONFIG, TOKEN_BUCKET_FORMS, type TokenBucketCase, type TokenBucketForm } from "../../../host-tests/token-bucket/cases";
import { checkStep } from "../../../host-tests/token-bucket/check-step";
import { STEP_HEADER, llmTokensOf, seen, startBucketEnvoy, startModelServer, wasmFailureStats, wasmFailures, type ModelServerHandle } from "./envoy";

const CLIENTS: Array<{ protocol: string; tag: string; send: (base: string, req: RepeatedHeadersRequest) => Promise<HttpResponse> }> = [
  { protocol: "HTTP/1.1", tag: "h1", send: http1Request },
  { protocol: "HTTP/2 (h2c)", tag: "h2", send: h2cRequest },
];

printEnvoyLogsOnFailure();

let server: ModelServerHandle;
let runs = 0;

beforeAllOrFailEach(async () => {
  server = await startModelServer();
});

afterAll(async () => {
  closeHttp1Connections();
  await server?.close();
});

async function runCase(form: TokenBucketForm, c: TokenBucketCase, tag: string, send: (base: string, req: RepeatedHeadersRequest) => Promise<HttpResponse>): Promise<void> {
  server.reset();
  const run = `${process.pid}-${tag}-${++runs}`;
  const envoy: Envoy = await startBucketEnvoy({ form, bucketConfig: { ...TOKEN_BUCKET_CONFIG, ...(c.config ?? {}) }, modelServerPort: server.port, name: `token-bucket-${form}` });
  try {
    for (const [i, step] of c.steps.entries()) {
      const before = server.model.count;
      const r = step.request;
      const id = `${run}-${i}`;
      const headers: Record<string, string | string[]> = { ...(r.headers ?? {}), [STEP_HEADER]: id };
      if (r.tenant !== undefined) headers.authorization = `Bearer ${run}-${r.tenant}`;
      const res = await send(envoy.listenerUrl, { method: r.method ?? "POST", path: r.path ?? "/", headers, body: r.body });
      checkStep(`step ${i}`, step, seen(res, before, server, await llmTokensOf(envoy, id)));
    }
    expect(wasmFailures(envoy.logs())).toEqual([]);
    expect(await wasmFailureStats(envoy)).toEqual({});
  } finally {
    await envoy.stop();
  }
}

describe.each(TOKEN_BUCKET_FORMS)("token-bucket case table through Envoy (%s form)", (form) => {
  describe.each(CLIENTS)("over $protocol", ({ tag, send }) => {
    it.each(CASES.filter((c) => !c.forms || c.forms.includes(form)))("$name", async (c) => {
      await runCase(form, c, tag, send);
    });
  });
});
