/**
 * An interrupted `pbundle pack` leaves nothing behind: the temporary work
 * directory and bundle beside the output are removed by the CLI's signal
 * handlers, and the exit status is 128 + the signal's number.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cliProcessArgs, HOST_ELF, packArgs, withTempDir } from "./_helpers.ts";

for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`pack interrupted by ${signal} removes its temporary files and exits ${status}`, async () => {
    await withTempDir(async (dir) => {
      const appDir = join(dir, "Big.AppDir");
      await Deno.mkdir(appDir);
      await Deno.writeTextFile(join(appDir, "AppRun"), "#!/bin/sh\n", { mode: 0o755 });
      // Incompressible data, so packing takes long enough to be interrupted.
      const chunk = new Uint8Array(1 << 20);
      const file = await Deno.open(join(appDir, "blob.bin"), { write: true, create: true });
      for (let i = 0; i < 96; i++) {
        crypto.getRandomValues(chunk.subarray(0, 65536));
        for (let j = 65536; j < chunk.length; j += 65536) {
          crypto.getRandomValues(chunk.subarray(j, j + 65536));
        }
        await file.write(chunk);
      }
      file.close();
      const out = join(dir, "out");
      await Deno.mkdir(out);
      const output = join(out, "big.AppBundle");
      const id = "big-20260101-test";
      const pack = packArgs({ appDir, runtime: HOST_ELF }, ["-t", "-o", output], { id });
      const child = new Deno.Command(Deno.execPath(), {
        args: cliProcessArgs(pack),
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // Wait until the pack has made its work directory, then interrupt it.
      const deadline = Date.now() + 30_000;
      while ([...Deno.readDirSync(out)].length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok([...Deno.readDirSync(out)].length > 0, "the pack made no temporary file");
      child.kill(signal);
      const { code, stderr } = await child.output();
      assert.equal(code, status, new TextDecoder().decode(stderr));
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), []);
    });
  });
}
