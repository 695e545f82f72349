// Builds the plugins, the test fixtures and the pure AssemblyScript test entries once before any
// suite runs, so tests never run against stale modules.
import { buildAll } from "../scripts/build.mjs";
import { buildFixtures } from "./fixtures/build-fixtures";
import { buildPure } from "./pure/build-pure";

export default async function setup(): Promise<void> {
  await buildAll();
  await buildFixtures();
  await buildPure();
}
