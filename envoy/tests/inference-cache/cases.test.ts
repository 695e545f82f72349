// inference-cache's case table (host-tests/inference-cache/cases.ts) through a real Envoy, in every
// form (one ai-gateway pipeline entry; model-router and inference-cache as two entries of one VM;
// the cache alone) and over HTTP/1.1 and HTTP/2 (h2c) on the same listener. The upstream is the
// table's ModelServer behind node:http (each reply chunk a separate write), counting requests and
// recording the x-ai-cache-key it received. The checks are the emulator's (checkStep).
//
// Each case starts from an empty cache: the local tier lives in Envoy's shared data for the
// process's lifetime (keyed by vm_id), and several cases send the same request, so every case gets
// an Envoy of its own (it starts in about 0.3 s) with the case's configuration. waitMs is waited
// in real time.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, type Envoy, type HttpRequest, type HttpResponse } from "../../harness";
import { CACHE_CONFIG, CACHE_FORMS, CASES, type CacheCase, type CacheForm } from "../../../host-tests/inference-cache/cases";
import { checkStep, type SeenResponse } from "../../../host-tests/inference-cache/check-step";
import { seen, startCacheEnvoy, startModelServer, wasmFailures, type ModelServerHandle } from "./envoy";

const CLIENTS: Array<{ protocol: string; send: (base: string, req: HttpRequest) => Promise<HttpResponse> }> = [
  { protocol: "HTTP/1.1", send: http1Request },
  { protocol: "HTTP/2 (h2c)", send: h2cRequest },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

printEnvoyLogsOnFailure();

let server: ModelServerHandle;

beforeAllOrFailEach(async () => {
  server = await startModelServer();
});

afterAll(async () => {
  closeHttp1Connections();
  await server?.close();
});

async function runCase(form: CacheForm, c: CacheCase, send: (base: string, req: HttpRequest) => Promise<HttpResponse>): Promise<void> {
  server.reset();
  const envoy: Envoy = await startCacheEnvoy({ form, cacheConfig: { ...CACHE_CONFIG, ...(c.config ?? {}) }, modelServerPort: server.port, name: `inference-cache-${form}` });
  try {
    const history: SeenResponse[] = [];
    for (const [i, step] of c.steps.entries()) {
      if (step.waitMs) await sleep(step.waitMs);
      const before = server.model.count;
      const r = step.request;
      const res = await send(envoy.listenerUrl, { method: r.method ?? "POST", path: r.path ?? "/", headers: r.headers, body: r.body });
      const s = seen(res, before, server);
      checkStep(`step ${i}`, step, s, history);
      history.push(s);
    }
    expect(wasmFailures(envoy.logs())).toEqual([]);
  } finally {
    await envoy.stop();
  }
}

describe.each(CACHE_FORMS)("inference-cache case table through Envoy (%s form)", (form) => {
  describe.each(CLIENTS)("over $protocol", ({ send }) => {
    it.each(CASES.filter((c) => !c.forms || c.forms.includes(form)))("$name", async (c) => {
      await runCase(form, c, send);
    });
  });
});
