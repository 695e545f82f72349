// model-router's case table (host-tests/model-router/cases.ts) through a real Envoy, in every form
// and over HTTP/1.1 and HTTP/2 (h2c with prior knowledge) on the same listener (codec_type AUTO).
// Each cluster of the table's configuration is an echo upstream named after it: the upstream that
// answers proves the cluster Envoy picked from x-ai-cluster, and its echo shows the headers and
// the body the router passed on. The checks are the emulator's (host-tests/model-router/
// check-case.ts), so both hosts and both forms are held to the same answers.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import {
  closeHttp1Connections,
  h2cRequest,
  http1Request,
  printEnvoyLogsOnFailure,
  startUpstream,
  type Envoy,
  type RepeatedHeadersRequest,
  type HttpResponse,
  type Upstream,
} from "../../harness";
import { buildHealthWriter } from "../../../host-tests/model-router/build";
import { CASES, CASES_CLUSTERS, CASES_CONFIG, type RouterCase } from "../../../host-tests/model-router/cases";
import { caseStat, checkCase, type Observed } from "../../../host-tests/model-router/check-case";
import { FORMS } from "../../../host-tests/model-router/forms";
import { startRouterEnvoy } from "./envoy";

const CLIENTS: Array<{ protocol: string; send: (base: string, req: RepeatedHeadersRequest) => Promise<HttpResponse> }> = [
  { protocol: "HTTP/1.1", send: http1Request },
  { protocol: "HTTP/2 (h2c)", send: h2cRequest },
];

printEnvoyLogsOnFailure();

const upstreams: Upstream[] = [];

beforeAllOrFailEach(async () => {
  await buildHealthWriter();
  for (const cluster of CASES_CLUSTERS) upstreams.push(await startUpstream(cluster));
});

afterAll(async () => {
  closeHttp1Connections();
  await Promise.all(upstreams.map((u) => u.close()));
});

/** What the client saw, with the echo of the upstream that answered (harness/upstream.ts). */
function observe(res: HttpResponse): Observed {
  const answeredBy = res.headers["x-upstream"];
  if (answeredBy === undefined) return { status: res.status, headers: res.headers, body: res.text };
  const echo = JSON.parse(res.text) as { headers: Record<string, string | string[]>; body: string };
  const headers = Object.fromEntries(Object.entries(echo.headers).map(([n, v]) => [n, Array.isArray(v) ? v.join(", ") : v]));
  return { status: res.status, headers: res.headers, body: res.text, upstream: { cluster: answeredBy, headers, body: echo.body } };
}

describe.each(FORMS)("model-router case table through Envoy (%s form)", (form) => {
  let envoy: Envoy;

  beforeAllOrFailEach(async () => {
    const clusterPorts = Object.fromEntries(upstreams.map((u, i) => [CASES_CLUSTERS[i], u.port]));
    envoy = await startRouterEnvoy({ runner: "process", form, routerConfig: CASES_CONFIG, clusterPorts, name: `model-router-cases-${form}` });
  });

  afterAll(async () => {
    await envoy?.stop();
  });

  describe.each(CLIENTS)("over $protocol", ({ send }) => {
    it.each(CASES)("$name", async (c: RouterCase) => {
      const stat = `wasmcustom.${caseStat(c)}`;
      const before = (await envoy.stat(stat)) ?? 0;
      const res = await send(envoy.listenerUrl, c.request);
      checkCase(c, observe(res));
      await envoy.waitForStat(stat, (v) => v === before + 1);
    });
  });

  // Header bytes that are not UTF-8 (RFC 9110 lets obs-text through, and Envoy does): a rule in
  // front of the gateway sees these bytes, so the router must not read them as a model name.
  // Node's HTTP/1 client sends each character 0x80-0xFF of a header string as that one byte.
  describe("header values that are not UTF-8", () => {
    const notUtf8: Array<[string, Record<string, string>, string]> = [
      ["an overlong 'g' in x-model", { "x-model": "\u00c1\u00a7pt" }, "x-model"],
      ["a lead byte before an ASCII byte in x-model", { "x-model": "ll\u00c1ama" }, "x-model"],
      ["bytes beyond U+10FFFF in x-model", { "x-model": "\u00f4\u0090\u0080\u0080" }, "x-model"],
      ["an overlong '1' in x-model-version", { "x-model": "llama", "x-model-version": "v\u00c0\u00b1" }, "x-model-version"],
    ];
    it.each(notUtf8)("%s: 400 invalid_model, no upstream reached", async (_name, headers, header) => {
      const stat = "wasmcustom.model_router.errors.kind=invalid_model";
      const before = (await envoy.stat(stat)) ?? 0;
      const res = await http1Request(envoy.listenerUrl, { path: "/v1/chat/completions", headers });
      expect(res.status).toBe(400);
      expect(res.headers["x-upstream"]).toBeUndefined();
      const error = (JSON.parse(res.text) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe("invalid_model");
      expect(error.message).toContain(`${header}: expected`);
      expect(error.message).toContain("UTF-8");
      await envoy.waitForStat(stat, (v) => v === before + 1);
    });
  });

  describe("after every case", () => {
    it("has not trapped: no Wasm runtime error in Envoy's log", () => {
      expect(envoy.logs()).not.toMatch(/RuntimeError|ai-gateway-wasm: abort|Function: proxy_on_\w+ failed/);
    });
  });
});
