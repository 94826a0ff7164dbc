/**
 * The README's main job: packs examples/hello/AppDir into out/hello.AppBundle
 * with the `pbundle` command (building the runtime on first use), then runs
 * the bundle the way a user would, with arguments, and shows its icon query.
 *
 * Run it with `deno task example`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const output = `${root}out/hello.AppBundle`;
mkdirSync(`${root}out`, { recursive: true });

console.log(
  `$ pbundle pack -a examples/hello/AppDir -i hello-20260101-pbundle -o out/hello.AppBundle`,
);
const packed = await main([
  "pack",
  "-a",
  `${root}examples/hello/AppDir`,
  "-i",
  "hello-20260101-pbundle",
  "-o",
  output,
]);
if (packed !== 0) Deno.exit(packed);

console.log(`\n$ out/hello.AppBundle "first argument" 'second one'`);
const run = spawnSync(output, ["first argument", "second one"], { stdio: "inherit" });
console.log(`(exit status ${run.status})`);

console.log(`\n$ out/hello.AppBundle --pbundle_desktop | base64 -d`);
const desktop = spawnSync(output, ["--pbundle_desktop"], { encoding: "utf8" });
console.log(atob(desktop.stdout.trim()));
Deno.exit(run.status ?? 1);
