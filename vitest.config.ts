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
        },
      },
      {
        test: {
          name: "integration",
          include: ["envoy/tests/**/*.test.ts"],
          globalSetup: ["host-tests/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
