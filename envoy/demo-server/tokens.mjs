// Deterministic "model" arithmetic: token estimates, seeded text and vectors, seeded fault draws.
// Everything here is a pure function of its arguments, so the same request (and the same --seed)
// always produces the same bytes and the same faults, whatever else the server is doing.
import { createHash } from "node:crypto";

/** SHA-256 of bytes or a string, as lowercase hex. */
export function sha256Hex(data) {
  return createHash("sha256").update(data).digest("hex");
}

/** A 32-bit seed taken from the SHA-256 of a string. */
export function seedOf(text) {
  return createHash("sha256").update(text).digest().readUInt32BE(0);
}

/**
 * Hashes integers into one 32-bit value (murmur3 finaliser per part). Fault draws use
 * (seed, request sequence, salt) rather than a shared PRNG stream, so a request's fate does not
 * depend on how many draws other, concurrent requests made before it.
 */
export function mix32(...parts) {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A uniform draw in [0, 1) from integer parts. */
export function unitDraw(...parts) {
  return mix32(...parts) / 4294967296;
}

/** mulberry32: a small, fast, seedable PRNG for generating text and vectors. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Estimated token count of a text: one token per 4 UTF-8 bytes, rounded up (the usual rule of
 * thumb for BPE tokenizers on English). The gateway's token-bucket estimates the same way, but
 * settles on the `usage` we return, so only consistency matters here, not accuracy.
 */
export function estimateTokens(text) {
  const bytes = Buffer.byteLength(text, "utf8");
  return bytes === 0 ? 0 : Math.ceil(bytes / 4);
}

// Chat formats add a few tokens per message (role markers) and a few to prime the reply; these are
// the figures OpenAI documents for its chat models.
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;

/** Text of a chat message's `content`: a string, an array of parts, or null. */
export function contentText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (part && typeof part === "object" && typeof part.text === "string") text += part.text;
  }
  return text;
}

/** Estimated prompt tokens of a chat request's messages. */
export function chatPromptTokens(messages) {
  let total = TOKENS_PER_REPLY;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + estimateTokens(contentText(message.content));
    if (typeof message.name === "string") total += estimateTokens(message.name);
    if (message.tool_calls !== undefined) total += estimateTokens(JSON.stringify(message.tool_calls));
  }
  return total;
}

const WORDS = [
  "the", "model", "gateway", "token", "stream", "envoy", "filter", "cache", "route", "version",
  "canary", "stable", "bucket", "health", "warm", "ready", "request", "answer", "prompt", "tensor",
  "shard", "replica", "latency", "budget", "tenant", "quota", "window", "burst", "signal", "vector",
  "layer", "weight", "batch", "queue", "slot", "context", "sample", "decode", "encode", "chunk",
  "event", "header", "body", "proxy", "worker", "thread", "lease", "probe", "state", "ramp",
  "split", "alias", "hash", "key", "entry", "table", "limit", "retry", "timeout", "cluster",
  "upstream", "listener", "socket", "frame",
];

// Natural reply lengths, in tokens, when max_tokens does not cut the reply short.
const MIN_REPLY_TOKENS = 6;
const MAX_REPLY_TOKENS = 32;

/**
 * A deterministic reply for a seed: its tokens (each a word with its leading space, ending with
 * ".") cut to `maxTokens`, and why it ended. `length` when the cap cut it, like real servers.
 */
export function generateReply(seed, maxTokens) {
  const next = prng(seed);
  const natural = MIN_REPLY_TOKENS + Math.floor(next() * (MAX_REPLY_TOKENS - MIN_REPLY_TOKENS + 1));
  const tokens = [];
  for (let i = 0; i < natural - 1; i++) {
    const word = WORDS[Math.floor(next() * WORDS.length)];
    tokens.push(i === 0 ? word[0].toUpperCase() + word.slice(1) : " " + word);
  }
  tokens.push(".");
  if (maxTokens !== undefined && maxTokens < natural) {
    return { tokens: tokens.slice(0, maxTokens), finishReason: "length" };
  }
  return { tokens, finishReason: "stop" };
}

/** A deterministic unit-length embedding of `dims` floats for a seed. */
export function generateEmbedding(seed, dims) {
  const next = prng(seed);
  const values = new Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    values[i] = next() * 2 - 1;
    norm += values[i] * values[i];
  }
  norm = Math.sqrt(norm) || 1;
  // Rounded so JSON stays short and identical across platforms' float printing.
  return values.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}
