// Test clients for a listener, one request shape for both protocols: HTTP/1.1 (keep-alive), and
// HTTP/2 over cleartext with prior knowledge (h2c, no Upgrade), as a gRPC client or
// `curl --http2-prior-knowledge` talks to a listener whose HCM has `codec_type: AUTO` or HTTP2.
import http from "node:http";
import http2 from "node:http2";

export interface HttpRequest {
  /** Default POST with a body, GET without. */
  method?: string;
  path: string;
  /** Lowercase names; connection-specific headers (connection, transfer-encoding, ...) are not allowed in HTTP/2. content-length is added for `body`, as curl does. */
  headers?: Record<string, string>;
  /** Sent whole (one DATA frame; HTTP/1.1 with content-length). */
  body?: string | Uint8Array;
  /** Sent as separate DATA frames (HTTP/1.1: chunked), in order, `chunkGapMs` apart, so they reach Envoy as separate reads. */
  chunks?: (string | Uint8Array)[];
  /** Default 2 ms. */
  chunkGapMs?: number;
  /** Sent after the body (HTTP/2: a trailing HEADERS frame; HTTP/1.1: chunked trailers). */
  trailers?: Record<string, string>;
  /** HTTP/2 :authority; default the URL's host:port (HTTP/1.1 sends the same as Host). */
  authority?: string;
  /** The whole exchange; default 10 s. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** Response headers, pseudo-headers left out; repeated headers joined with ", " (set-cookie too). */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  trailers: Record<string, string>;
}

function flatten(h: http2.IncomingHttpHeaders | http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith(":") || value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

/** One request on its own h2c connection to `baseUrl` (http://host:port). */
/** An HttpRequest whose headers may repeat: an array sends one header line (HTTP/2: field) per value. */
export type RepeatedHeadersRequest = Omit<HttpRequest, "headers"> & { headers?: Record<string, string | string[]> };

export function h2cRequest(baseUrl: string, req: RepeatedHeadersRequest): Promise<HttpResponse> {
  const url = new URL(baseUrl);
  const timeoutMs = req.timeoutMs ?? 10_000;
  return new Promise<HttpResponse>((resolve, reject) => {
    const session = http2.connect(url);
    let settled = false;
    const finish = (err: Error | null, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      if (err !== null) {
        session.destroy();
        reject(err);
      } else resolve(res!);
    };
    const timer = setTimeout(() => finish(new Error(`h2c ${req.method ?? ""} ${req.path} to ${baseUrl}: no complete response in ${timeoutMs} ms`)), timeoutMs);
    session.on("error", (err) => finish(err));

    const hasBody = req.body !== undefined || req.chunks !== undefined;
    const stream = session.request(
      {
        ":method": req.method ?? (hasBody ? "POST" : "GET"),
        ":path": req.path,
        ":scheme": "http",
        ":authority": req.authority ?? url.host,
        ...(req.body === undefined ? {} : { "content-length": String(Buffer.byteLength(req.body)) }),
        ...req.headers,
      },
      { endStream: !hasBody && req.trailers === undefined, waitForTrailers: req.trailers !== undefined },
    );
    if (req.trailers !== undefined) stream.on("wantTrailers", () => stream.sendTrailers(req.trailers!));

    let status = 0;
    let headers: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const parts: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      headers = flatten(h);
    });
    stream.on("trailers", (t) => (trailers = flatten(t)));
    stream.on("data", (c: Buffer) => parts.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(parts);
      finish(null, { status, headers, body, text: body.toString("utf8"), trailers });
    });
    stream.on("error", (err) => finish(err));

    (async () => {
      if (req.body !== undefined) stream.write(req.body);
      for (const chunk of req.chunks ?? []) {
        stream.write(chunk);
        await new Promise((r) => setTimeout(r, req.chunkGapMs ?? 2));
      }
      if (hasBody || req.trailers !== undefined) stream.end();
    })().catch((err: Error) => finish(err));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** One HTTP/1.1 request to `baseUrl` on a shared keep-alive agent. */
export function http1Request(baseUrl: string, req: RepeatedHeadersRequest): Promise<HttpResponse> {
  const url = new URL(req.path, baseUrl);
  const timeoutMs = req.timeoutMs ?? 10_000;
  return new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...req.headers };
    if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
    if (req.trailers) headers.trailer = Object.keys(req.trailers).join(", ");
    if (req.authority !== undefined) headers.host = req.authority;
    const hasBody = req.body !== undefined || req.chunks !== undefined;
    const creq = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: req.method ?? (hasBody ? "POST" : "GET"), headers, agent, timeout: timeoutMs },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => {
          const body = Buffer.concat(parts);
          const trailers = Object.fromEntries(Object.entries(res.trailers).filter((e): e is [string, string] => e[1] !== undefined));
          resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), body, text: body.toString("utf8"), trailers });
        });
        res.on("error", reject);
      },
    );
    creq.on("timeout", () => creq.destroy(new Error(`HTTP/1.1 ${req.method ?? ""} ${req.path} to ${baseUrl}: no response in ${timeoutMs} ms`)));
    creq.on("error", reject);
    (async () => {
      if (req.body !== undefined) creq.write(req.body);
      for (const chunk of req.chunks ?? []) {
        creq.write(chunk);
        await new Promise((r) => setTimeout(r, req.chunkGapMs ?? 2));
      }
      if (req.trailers) creq.addTrailers(req.trailers);
      creq.end();
    })().catch(reject);
  });
}

/** Closes the HTTP/1.1 keep-alive connections (call from afterAll, or the process may linger). */
export function closeHttp1Connections(): void {
  agent.destroy();
}
