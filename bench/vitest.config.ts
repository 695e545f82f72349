// The bench's own tests (bench/*.test.ts): the unit project in ../vitest.config.ts includes only
// host-tests/, so these run with `npx vitest run --config bench/vitest.config.ts`. They build
// what they need themselves (the floors with asc); nothing else.
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: path.resolve(import.meta.dirname, ".."),
    include: ["bench/**/*.test.ts"],
    testTimeout: 30_000,
    // Building a floor with asc can take a while on a loaded 2-core machine.
    hookTimeout: 120_000,
  },
});
