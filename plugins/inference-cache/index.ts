// Entry of build/inference-cache.wasm.
export * from "../../assembly/abi/exports";
import { register } from "./plugin";

register();
