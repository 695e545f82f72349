// Builds the plugins (and the test fixtures) once before any suite runs, so tests never run
// against stale modules.
import { buildAll } from "../scripts/build.mjs";
import { buildFixtures } from "./fixtures/build-fixtures";

export default async function setup(): Promise<void> {
  await buildAll();
  await buildFixtures();
}
