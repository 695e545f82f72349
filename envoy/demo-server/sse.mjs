// Server-sent events as OpenAI-compatible servers send them: one `data: <json>\n\n` event per
// chunk, then `data: [DONE]\n\n`. No `event:` or `id:` lines, matching OpenAI, vLLM and llama-server.
import { setTimeout as sleep } from "node:timers/promises";

export const DONE = "data: [DONE]\n\n";

/** One SSE event carrying a JSON value. */
export function sseEvent(value) {
  return `data: ${JSON.stringify(value)}\n\n`;
}

// Waits until the socket has room again, or the response is closed, so a slow reader costs us
// one chunk of memory rather than the whole stream.
function drained(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/**
 * Writes the events (JSON values) and the final [DONE] to a response whose headers are set.
 * `chunkMs` spaces the events; `cutAfter` (a count) destroys the connection after that many
 * events to simulate a server that dies mid-stream. `beforeLast` (tests) is awaited before the
 * last chunk, the final [DONE]. Resolves when done; never rejects.
 */
export async function writeSse(res, events, { chunkMs = 0, cutAfter, signal, beforeLast } = {}) {
  res.statusCode = 200;
  res.setHeader("content-type", "text/event-stream");
  res.setHeader("cache-control", "no-cache");
  res.flushHeaders();
  try {
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if (cutAfter !== undefined && i >= cutAfter) {
        res.destroy();
        return;
      }
      if (i > 0 && chunkMs > 0) await sleep(chunkMs, undefined, { signal });
      if (res.destroyed) return;
      if (!res.write(sseEvent(events[i]))) await drained(res);
    }
    if (beforeLast) await beforeLast();
    if (!res.destroyed) res.end(DONE);
  } catch {
    // Aborted by server shutdown while waiting between chunks.
    res.destroy();
  }
}
