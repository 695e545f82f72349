// Entry of build/token-bucket.wasm.
export * from "../../assembly/abi/exports";
import { register } from "./plugin";

register();
