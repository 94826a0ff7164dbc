/**
 * Long work shows progress on a terminal and stays quiet when output is not a
 * terminal: `pbundle pack` run under a pseudo-terminal (util-linux `script`)
 * prints its progress line; the same pack with a pipe for stderr prints none.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cliProcessArgs, HOST_ELF, packArgs, withTempDir } from "./_helpers.ts";

async function appDir(dir: string): Promise<string> {
  const path = join(dir, "P.AppDir");
  await Deno.mkdir(path);
  await Deno.writeTextFile(join(path, "AppRun"), "#!/bin/sh\n", { mode: 0o755 });
  await Deno.writeFile(join(path, "data.bin"), new Uint8Array(4 << 20).fill(7));
  return path;
}

/** The arguments of `deno` that pack `app` into `output` in a process of its own. */
function packProcessArgs(app: string, output: string): string[] {
  return cliProcessArgs(
    packArgs({ appDir: app, runtime: HOST_ELF }, ["-t", "-o", output], {
      id: "progress-20260101-test",
    }),
  );
}

Deno.test("pack shows progress on a terminal", async () => {
  await withTempDir(async (dir) => {
    const app = await appDir(dir);
    const command = [Deno.execPath(), ...packProcessArgs(app, join(dir, "p.AppBundle"))]
      .map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    // script gives the command a pseudo-terminal and copies what it prints to stdout.
    const out = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    assert.match(text, /pbundle: packing 100% \(/);
  });
});

Deno.test("pack prints no progress when stderr is not a terminal", async () => {
  await withTempDir(async (dir) => {
    const app = await appDir(dir);
    const out = await new Deno.Command(Deno.execPath(), {
      args: packProcessArgs(app, join(dir, "p.AppBundle")),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.doesNotMatch(stderr, /packing/);
    assert.doesNotMatch(stderr, /\r/);
  });
});
