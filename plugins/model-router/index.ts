// Entry of build/model-router.wasm.
export * from "../../assembly/abi/exports";
import { register } from "./plugin";

register();
