// Entry of build/warmup-health.wasm.
export * from "../../assembly/abi/exports";
import { register } from "./plugin";

register();
