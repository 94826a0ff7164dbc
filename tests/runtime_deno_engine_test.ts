/**
 * The runtime's Deno side (_engine.ts under Deno: Deno.Command, signal
 * listeners, Deno.exit), run from source with `deno run runtime/main.ts` and
 * TARGET_APPIMAGE naming a bundle, since deno compile cannot get a denort here.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { areaEnv, listTree, withBundle } from "./_runtime_helper.ts";

const MAIN = fileURLToPath(new URL("../runtime/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

Deno.test("under Deno the runtime passes arguments, exit statuses and forwarded signals", async () => {
  await withBundle({
    files: {
      AppRun: `#!/bin/sh
case "$1" in
  exit) exit "$2" ;;
  wait) trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.05; done ;;
  *) for a in "$@"; do printf '<%s>\\n' "$a"; done ;;
esac
`,
    },
    runBehavior: 1,
  }, async (area) => {
    const env = areaEnv(area, { TARGET_APPIMAGE: area.bundle, DENO_NO_UPDATE_CHECK: "1" });
    const deno = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-all", "--config", CONFIG, MAIN, ...args],
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      });
    let out = await deno(["exit", "42"]).output();
    assert.equal(out.code, 42, new TextDecoder().decode(out.stderr));
    out = await deno(["a b", "it's", "x\ny"]).output();
    assert.equal(new TextDecoder().decode(out.stdout), "<a b>\n<it's>\n<x\ny>\n");
    const child = deno(["wait"]).spawn();
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("ready")) text += new TextDecoder().decode((await reader.read()).value);
    child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await child.stderr.cancel();
    assert.equal((await child.status).code, 9);
    assert.match(text, /got TERM/);
    assert.deepEqual(listTree(area.tmp), []);
  });
});
