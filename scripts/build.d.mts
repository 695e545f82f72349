// Types of scripts/build.mjs for the TypeScript tests that import it.
export declare const COMBINED: string;
export declare function pluginNames(): Promise<string[]>;
export declare function compile(entry: string, outFile: string, options?: { debug?: boolean }): Promise<string>;
export declare function buildAll(options?: { debug?: boolean; only?: string[] | null }): Promise<string[]>;
