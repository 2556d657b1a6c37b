#!/usr/bin/env node
// The `diffda` executable (package.json "bin"): registers tsx so the TypeScript CLI runs without a build.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
