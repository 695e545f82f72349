// A tiny HTTP upstream on 127.0.0.1 for tests that need no model server: it answers every
// request with 200 and a JSON echo of what it received, and counts requests.
import http from "node:http";
import { listenOnLoopback } from "./ports";

export interface Upstream {
  readonly port: number;
  readonly url: string;
  /** Requests received so far, oldest first. */
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

export async function startUpstream(name = "upstream"): Promise<Upstream> {
  const requests: Upstream["requests"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const out = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end(out);
    });
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
