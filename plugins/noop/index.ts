// Entry of build/noop.wasm.
export * from "../../assembly/abi/exports";
import { register } from "./plugin";

register();
