// The bench's outputs besides the JSON: the console table, a markdown table, an SVG bar chart
// (our own few lines, no chart library) and the results section of bench/README.md.
import { readFileSync, writeFileSync } from "node:fs";
import { NOISE_PAIR } from "./variants";

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** One measured variant, as the JSON holds it. */
export interface VariantResult {
  key: string;
  label: string;
  kind: "plain" | "floor" | "calls" | "filter";
  floor: string | null;
  requests: number;
  median_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  throughput_rps: number;
  envoy_cpu_us_per_req: number;
  /** The same from /proc/<pid>/stat (10 ms ticks), a cross-check. */
  envoy_cpu_ticks_us_per_req: number;
  /** The kernel's part of those ticks (stime / (utime + stime)). */
  envoy_kernel_share: number;
  /** Envoy's minor page faults per request. */
  envoy_minor_faults_per_req: number;
  /** Times an Envoy thread was put on a CPU, per request (schedstat): its wake-ups. */
  envoy_runs_per_req: number;
  /** This process (client and upstream). */
  node_cpu_us_per_req: number;
  /** Envoy's CPU while the other variants ran. */
  envoy_idle_cpu_us_per_s: number;
  rounds: { requests: number; median_us: number; p90_us: number; throughput_rps: number; envoy_cpu_us_per_req: number }[];
  vs_plain: {
    median_ratio: number;
    p90_ratio: number;
    throughput_ratio: number;
    added_median_us: number;
    added_median_us_rounds: Spread;
    envoy_cpu_ratio: number;
    added_envoy_cpu_us_per_req: number;
    added_envoy_cpu_us_per_req_rounds: Spread;
  };
  /** Envoy CPU per request minus the floor's; null for plain and the floors measured against it, or when the floor is unavailable. */
  vs_floor: { floor: string; added_envoy_cpu_us_per_req: number; added_envoy_cpu_us_per_req_rounds: Spread } | null;
  /** Envoy's resident memory at --concurrency 2 after some requests; null when that phase did not run. */
  rss: { vm_rss_mb: number; vm_hwm_mb: number; added_mb: number } | null;
}

export interface Unavailable {
  key: string;
  label: string;
  reason: string;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const sp = (s: Spread) => `${f1(s.median)} [${f1(s.min)}..${f1(s.max)}]`;
/** A difference with its sign: "+3.2", "-3.2" (a cache hit costs less than its floor). */
const signed = (x: number) => (f1(x).startsWith("-") ? f1(x) : `+${f1(x)}`);

export function printTable(rows: VariantResult[]): void {
  const head = ["variant", "median µs", "p90 µs", "req/s", "median ×", "req/s ×", "+median µs", "per round", "CPU µs/req", "CPU ×", "+CPU µs/req", "per round", "floor", "+CPU over floor, per round"];
  const body = rows.map((r) => {
    const p = r.kind === "plain";
    return [
      r.label,
      f1(r.median_us),
      f1(r.p90_us),
      r.throughput_rps.toFixed(0),
      r.vs_plain.median_ratio.toFixed(3),
      r.vs_plain.throughput_ratio.toFixed(3),
      p ? "" : f1(r.vs_plain.added_median_us),
      p ? "" : sp(r.vs_plain.added_median_us_rounds),
      f1(r.envoy_cpu_us_per_req),
      r.vs_plain.envoy_cpu_ratio.toFixed(3),
      p ? "" : f1(r.vs_plain.added_envoy_cpu_us_per_req),
      p ? "" : sp(r.vs_plain.added_envoy_cpu_us_per_req_rounds),
      r.floor ?? "",
      r.vs_floor ? sp(r.vs_floor.added_envoy_cpu_us_per_req_rounds) : "",
    ];
  });
  printAligned(head, body);
  console.log("(latency: client-side, request start to last response byte; CPU: the Envoy process's threads, /proc schedstat;");
  console.log(" ×: ratio to plain Envoy; +: difference to plain Envoy over all rounds, then the median [min..max] of the per-round");
  console.log(" differences; +CPU over floor: per-round difference to the variant named under floor, median [min..max])");
  console.log("");
}

export function printRss(rows: VariantResult[], concurrency: number, requests: number): void {
  const body = rows.filter((r) => r.rss !== null).map((r) => [r.label, f1(r.rss!.vm_rss_mb), f1(r.rss!.vm_hwm_mb), r.kind === "plain" ? "" : f1(r.rss!.added_mb)]);
  printAligned(["variant", "VmRSS MB", "VmHWM MB", "+MB over plain"], body);
  console.log(`(Envoy --concurrency ${concurrency}, after ${requests} requests; /proc/<pid>/status)`);
  console.log("");
}

function printAligned(head: string[], body: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log("");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

/** The results as a markdown table (what --update-readme puts into bench/README.md). */
export function markdownTable(rows: VariantResult[], unavailable: Unavailable[]): string {
  // Its differences are the per-round median [min..max] (the numbers to quote), where the
  // console's same-named columns are over all rounds: bench/README.md, "Reading the table".
  const out = [
    "| Variant | floor | median µs | req/s | +median µs | Envoy CPU µs/req | +CPU µs/req over plain | +CPU µs/req over floor | RSS MB (c=2) | +RSS MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const p = r.kind === "plain";
    out.push(
      "| " +
        [
          r.kind === "filter" ? r.label : `*${r.label}*`,
          r.floor ?? "",
          f1(r.median_us),
          r.throughput_rps.toFixed(0),
          p ? "" : sp(r.vs_plain.added_median_us_rounds),
          f1(r.envoy_cpu_us_per_req),
          p ? "" : sp(r.vs_plain.added_envoy_cpu_us_per_req_rounds),
          r.vs_floor ? `**${f1(r.vs_floor.added_envoy_cpu_us_per_req_rounds.median)}** [${f1(r.vs_floor.added_envoy_cpu_us_per_req_rounds.min)}..${f1(r.vs_floor.added_envoy_cpu_us_per_req_rounds.max)}]` : "",
          r.rss ? f1(r.rss.vm_rss_mb) : "",
          r.rss && !p ? f1(r.rss.added_mb) : "",
        ].join(" | ") +
        " |",
    );
  }
  for (const u of unavailable) out.push(`| ${u.label} | unavailable: ${u.reason.replace(/\|/g, "\\|")} | | | | | | | | |`);
  return out.join("\n");
}

/** Two identical variants' figures above their floor in this run, and how far apart they are. */
export interface NoiseCheck {
  variants: readonly [string, string];
  above_floor_us: [number, number];
  apart_us: number;
}

/** The noise check of a run that measured both variants of NOISE_PAIR above their floor, else null. */
export function noiseCheck(rows: VariantResult[]): NoiseCheck | null {
  const [a, b] = NOISE_PAIR.map((k) => rows.find((r) => r.key === k)?.vs_floor?.added_envoy_cpu_us_per_req_rounds.median);
  if (a === undefined || b === undefined) return null;
  return { variants: NOISE_PAIR, above_floor_us: [r1(a), r1(b)], apart_us: r1(Math.abs(a - b)) };
}

/** The noise check as a sentence under the table. */
export function noiseSentence(n: NoiseCheck): string {
  return `Noise check: \`${n.variants[0]}\` and \`${n.variants[1]}\` run the same configuration in two Envoys of this run; ` +
    `they measured ${f1(n.above_floor_us[0])} and ${f1(n.above_floor_us[1])} µs above their floor, ${f1(n.apart_us)} apart. ` +
    `Two figures of this run closer than about that are not told apart by it.`;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * Horizontal bars of Envoy CPU per request over plain Envoy (per-round medians). A floor is a
 * grey bar; a filter's bar starts with its floor's cost (light grey) and adds its own cost above
 * the floor (blue), labelled with that number, the one to quote. A floor of required calls is
 * drawn like a filter, its part above the body floor in orange: the least the blue bar of the
 * filter it shadows could be.
 */
export function chartSvg(rows: VariantResult[], unavailable: Unavailable[], caption: string): string {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const plain = rows.find((r) => r.kind === "plain");
  const bars = rows.filter((r) => r.kind !== "plain").map((r) => {
    const total = r.vs_plain.added_envoy_cpu_us_per_req_rounds.median;
    const floorRow = (r.kind === "filter" || r.kind === "calls") && r.floor !== null ? byKey.get(r.floor) : undefined;
    const base = floorRow ? Math.max(0, floorRow.vs_plain.added_envoy_cpu_us_per_req_rounds.median) : 0;
    const own = r.vs_floor ? r.vs_floor.added_envoy_cpu_us_per_req_rounds.median : total;
    const label = r.kind === "floor" ? `${signed(total)} µs (floor)` : r.vs_floor ? `${signed(own)} over ${r.floor} (${signed(total)} over plain)` : `${signed(total)} over plain`;
    return { r, base, own, label };
  });
  const maxX = Math.max(10, ...bars.map((b) => b.base + Math.max(0, b.own)));
  const step = [5, 10, 20, 25, 50, 100, 200].find((s) => maxX / s <= 8) ?? 500;
  const top = Math.ceil(maxX / step) * step;
  const plotW = 360, rowH = 30, head = 52, foot = 56;
  // Room on the left for the longest label (about 6.2 px a character at 12 px), 200 px at least.
  const left = Math.max(200, Math.ceil(12 + 6.2 * Math.max(0, ...[...bars.map((b) => b.r.label), ...unavailable.map((u) => u.label)].map((l) => l.length))));
  const W = left + plotW + 320;
  const n = bars.length + unavailable.length;
  const H = head + n * rowH + foot;
  // Pixel positions to 0.1 px: shorter text, no visible difference.
  const x = (v: number) => Math.round((left + (Math.max(0, v) / top) * plotW) * 10) / 10;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="10" y="20" font-size="14" font-weight="bold">Envoy CPU per request over plain Envoy (µs, per-round median)</text>`);
  o.push(`<text x="10" y="38" fill="#555">plain Envoy: ${plain ? f1(plain.envoy_cpu_us_per_req) : "?"} µs/req. Grey: a floor; blue: a filter above its floor (light grey); orange: a filter's required calls alone.</text>`);
  for (let t = 0; t <= top; t += step) {
    o.push(`<line x1="${x(t)}" y1="${head - 4}" x2="${x(t)}" y2="${head + n * rowH}" stroke="#e3e3e3"/>`);
    o.push(`<text x="${x(t)}" y="${head + n * rowH + 14}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  bars.forEach((b, i) => {
    const y = head + i * rowH;
    o.push(`<text x="${left - 8}" y="${y + 19}" text-anchor="end">${esc(b.r.label)}</text>`);
    if (b.r.kind === "floor") {
      o.push(`<rect x="${left}" y="${y + 6}" width="${r1(x(b.own) - left)}" height="${rowH - 12}" fill="#8c96a0"/>`);
    } else {
      o.push(`<rect x="${left}" y="${y + 6}" width="${r1(x(b.base) - left)}" height="${rowH - 12}" fill="#d3d8de"/>`);
      o.push(`<rect x="${x(b.base)}" y="${y + 6}" width="${r1(x(b.base + b.own) - x(b.base))}" height="${rowH - 12}" fill="${b.r.kind === "calls" ? "#d98a2b" : "#2f6fb0"}"/>`);
    }
    o.push(`<text x="${r1(x(b.base + Math.max(0, b.own)) + 6)}" y="${y + 19}" fill="#222">${esc(b.label)}</text>`);
  });
  unavailable.forEach((u, i) => {
    const y = head + (bars.length + i) * rowH;
    o.push(`<text x="${left - 8}" y="${y + 19}" text-anchor="end">${esc(u.label)}</text>`);
    o.push(`<text x="${left + 6}" y="${y + 19}" fill="#a33">unavailable (Envoy refused its config)</text>`);
  });
  o.push(`<text x="${left + plotW / 2}" y="${head + n * rowH + 30}" text-anchor="middle" fill="#555">µs of Envoy CPU per request</text>`);
  o.push(`<text x="10" y="${H - 8}" fill="#777" font-size="11">${esc(caption)}</text>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

export const README_BEGIN = "<!-- bench-results:begin (written by npm run bench -- --update-readme) -->";
export const README_END = "<!-- bench-results:end -->";

/** Replaces what lies between the markers in `file`; throws when they are missing, so nothing else is touched. */
export function updateReadme(file: string, section: string): void {
  const text = readFileSync(file, "utf8");
  const a = text.indexOf(README_BEGIN);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`${file}: the markers ${README_BEGIN} ... ${README_END} are missing`);
  writeFileSync(file, text.slice(0, a + README_BEGIN.length) + "\n" + section.trim() + "\n" + text.slice(b));
}
