// Compiles the emulator's AssemblyScript test modules (test-modules/<name>/index.ts) into
// build/emulator-test-modules/<name>.wasm with the shared test build helper. A module newer than
// its sources and the ABI layer is reused.
import path from "node:path";
import { buildModule } from "../../fixtures/build-module";

/** Path of the built module `name`; compiles it when missing or stale. */
export function testModule(name: string): Promise<string> {
  const source = path.join("host-tests", "emulator", "test-modules", name);
  return buildModule(path.join(source, "index.ts"), path.join("build", "emulator-test-modules", `${name}.wasm`), {
    reuseUnlessNewer: [source, "assembly"],
  });
}
