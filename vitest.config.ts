import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", "./host-tests/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["host-tests/**/*.test.ts", "envoy/demo-server/**/*.test.ts"],
          globalSetup: ["host-tests/global-setup.ts"],
          testTimeout: 30_000,
          // Suites compile AssemblyScript modules in beforeAll: minutes on a loaded 2-core machine.
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["envoy/tests/**/*.test.ts"],
          globalSetup: ["host-tests/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One fork, files in turn: each file starts its own Envoys and the machine has 2 cores.
          // (`fileParallelism` is not a per-project option and would be ignored here.)
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
