/**
 * End-to-end tests of the static tools: the tools directory is keyed by the
 * SHA-256 of the .pbundle_static_tools section (bundles with the same tools
 * share it), the section's tools mount alone (no squashfuse or fusermount on
 * PATH), extracted once and run with their bundled lib/, and
 * --prefer-tools-in-path puts the tools on PATH first.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "../format/bundle.ts";
import {
  areaEnv,
  fuseWorks,
  listTree,
  makeBundle,
  runBundleProcess,
  type TestArea,
  withBundle,
} from "./_runtime_helper.ts";

/** Prints the mount that holds APPDIR (or "not mounted"), APPDIR, PATH, then the data file. */
const APPRUN = `#!/bin/sh
m="not mounted"
while read -r line; do
  case "$line" in *" $APPDIR "*) m="mounted: \${line##* - }" ;; esac
done < /proc/self/mountinfo
echo "$m"
echo "APPDIR=$APPDIR"
echo "PATH=$PATH"
read -r data < "$APPDIR/data.txt"; echo "data: $data"
if [ "$1" = sleep ]; then echo "ready $$"; exec /bin/sleep 30; fi
`;

function files(data: string) {
  return { AppRun: APPRUN, "data.txt": data };
}

/** The SHA-256 of a bundle's .pbundle_static_tools section. */
async function sectionHash(bundle: string): Promise<string> {
  const { staticTools } = await readBundle(bundle);
  assert.ok(staticTools, `${bundle} carries no static tools`);
  const bytes = new Uint8Array(staticTools.size);
  const fd = openSync(bundle, "r");
  try {
    assert.equal(readSync(fd, bytes, 0, bytes.length, staticTools.offset), bytes.length);
  } finally {
    closeSync(fd);
  }
  return createHash("sha256").update(bytes).digest("hex");
}

/** The tools directories in a cache (dot-names are stamps and temporaries). */
async function toolDirs(cache: string): Promise<string[]> {
  try {
    return (await readdir(join(cache, "pbundle", "tools"))).filter((n) => !n.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

Deno.test("bundles with the same static tools share one tools directory named by the section's SHA-256; other tools get another", async () => {
  const first = await makeBundle({ files: files("one"), runBehavior: 1 });
  const areas: TestArea[] = [first];
  try {
    areas.push(await makeBundle({ files: files("two"), runBehavior: 1 }));
    // Other tools: a squashfuse that is a script, from --static-tools-dir.
    const otherTools = join(first.root, "other-tools");
    await mkdir(otherTools);
    await writeFile(join(otherTools, "squashfuse"), '#!/bin/sh\nexec /usr/bin/squashfuse "$@"\n', {
      mode: 0o755,
    });
    await symlink("/usr/bin/unsquashfs", join(otherTools, "unsquashfs"));
    areas.push(
      await makeBundle({ files: files("one"), runBehavior: 1, staticToolsDir: otherTools }),
    );
    const [a, b, c] = areas as [TestArea, TestArea, TestArea];
    const [hashA, hashB, hashC] = await Promise.all(areas.map((x) => sectionHash(x.bundle)));
    assert.equal(hashA, hashB);
    assert.notEqual(hashA, hashC);
    assert.notEqual(
      (await readBundle(a.bundle)).runtimeInfo.Hash,
      (await readBundle(b.bundle)).runtimeInfo.Hash,
    );

    // All three run with one cache, as one user's bundles do.
    const env = areaEnv(first);
    const tools = join(first.cache, "pbundle", "tools");
    let r = await runBundleProcess(a.bundle, [], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^PATH=.*:${tools}/${hashA}$`, "m"));
    assert.deepEqual(await toolDirs(first.cache), [hashA]);
    const extracted = await stat(join(tools, hashA!, "squashfuse"));

    r = await runBundleProcess(b.bundle, [], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^data: two$/m);
    assert.match(r.stdout, new RegExp(`^PATH=.*:${tools}/${hashA}$`, "m"));
    assert.deepEqual(await toolDirs(first.cache), [hashA]);
    // Not extracted again for the second bundle.
    const again = await stat(join(tools, hashA!, "squashfuse"));
    assert.equal(again.ino, extracted.ino);
    assert.equal(again.mtimeMs, extracted.mtimeMs);

    r = await runBundleProcess(c.bundle, [], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^PATH=.*:${tools}/${hashC}$`, "m"));
    assert.deepEqual(await toolDirs(first.cache), [hashA!, hashC!].sort());
    assert.match(await readFile(join(tools, hashC!, "squashfuse"), "utf8"), /exec \/usr\/bin/);
    // One remembered section hash per bundle file, so later launches skip hashing.
    assert.equal((await readdir(join(tools, ".sections"))).length, 3);
  } finally {
    for (const area of areas) await area.cleanup();
  }
});

/** The pids of the processes whose command line holds `arg`. */
async function processesWithArg(arg: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.split("\0").includes(arg)) pids.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test({
  name: "with no squashfuse or fusermount on PATH, the section's tools are extracted once, " +
    "run with their bundled lib/, and mount the image",
  ignore: !fuseWorks(),
  async fn() {
    await withBundle({ files: files("mounted"), runBehavior: 0 }, async (area) => {
      const emptyPath = join(area.root, "empty-path");
      await mkdir(emptyPath);
      const env = areaEnv(area, { PATH: emptyPath });
      const hash = await sectionHash(area.bundle);
      const toolsDir = join(area.cache, "pbundle", "tools", hash);
      const child = new Deno.Command(area.bundle, {
        args: ["sleep"],
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      let out = "";
      while (!/ready \d+/.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the app never got ready: ${out}`);
        out += new TextDecoder().decode(value);
      }
      try {
        assert.match(out, /^mounted: fuse\.squashfuse /m);
        assert.match(out, /^data: mounted$/m);
        // The squashfuse serving the mount is the section's copy, and the
        // libraries it loaded are the ones beside it.
        const mountPoint = /^APPDIR=(.*)$/m.exec(out)![1]!;
        const pids = await processesWithArg(mountPoint);
        assert.equal(pids.length, 1, `${mountPoint}: ${pids}`);
        assert.equal(await readlink(`/proc/${pids[0]}/exe`), join(toolsDir, "squashfuse"));
        const maps = await Deno.readTextFile(`/proc/${pids[0]}/maps`);
        assert.ok(maps.includes(join(toolsDir, "lib", "libfuse3.so.3")), maps);
        assert.ok(!maps.includes("/x86_64-linux-gnu/libfuse3"), "the host's libfuse3 was loaded");
      } finally {
        Deno.kill(Number(/ready (\d+)/.exec(out)![1]), "SIGTERM");
        await child.status;
        await reader.cancel();
        await child.stderr.cancel();
      }
      const libs = await readdir(join(toolsDir, "lib"));
      assert.ok(libs.includes("libfuse3.so.3"), libs.join(", "));
      assert.deepEqual(await toolDirs(area.cache), [hash]);

      // Extracted once: the next launch leaves the tools directory as it is.
      const before = await stat(join(toolsDir, "squashfuse"));
      await writeFile(join(toolsDir, "probe"), "left by the test");
      const r = await runBundleProcess(area.bundle, [], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^mounted: fuse\.squashfuse /m);
      const after = await stat(join(toolsDir, "squashfuse"));
      assert.equal(after.ino, before.ino);
      assert.equal(after.mtimeMs, before.mtimeMs);
      assert.equal(await readFile(join(toolsDir, "probe"), "utf8"), "left by the test");
      assert.deepEqual(listTree(area.tmp), []);
    });
  },
});

Deno.test({
  name:
    "--prefer-tools-in-path runs the squashfuse found first on PATH; without it the section's " +
    "squashfuse mounts",
  ignore: !fuseWorks(),
  async fn() {
    const fake = await Deno.makeTempDir();
    const log = join(fake, "calls.log");
    try {
      await writeFile(
        join(fake, "squashfuse"),
        `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec /usr/bin/squashfuse "$@"\n`,
        { mode: 0o755 },
      );
      for (const prefer of [true, false]) {
        await writeFile(log, "");
        await withBundle(
          { files: files("either way"), runBehavior: 0, preferToolsInPath: prefer },
          async (area) => {
            const env = areaEnv(area, { PATH: `${fake}:${Deno.env.get("PATH")}` });
            const r = await runBundleProcess(area.bundle, [], { env });
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^mounted: fuse\.squashfuse /m);
            assert.match(r.stdout, /^data: either way$/m);
            const calls = await readFile(log, "utf8");
            const tools = join(area.cache, "pbundle", "tools");
            if (prefer) {
              const offset = (await readBundle(area.bundle)).imageOffset;
              assert.match(calls, new RegExp(`-o offset=${offset} ${area.bundle} ${area.tmp}/`));
              assert.doesNotMatch(r.stdout, new RegExp(`^PATH=.*${tools}`, "m"));
              assert.deepEqual(await toolDirs(area.cache), []); // nothing extracted
            } else {
              assert.equal(calls, "");
              const hash = await sectionHash(area.bundle);
              assert.match(r.stdout, new RegExp(`^PATH=${fake}:.*:${tools}/${hash}$`, "m"));
              assert.deepEqual(await toolDirs(area.cache), [hash]);
            }
            assert.deepEqual(listTree(area.tmp), []);
          },
        );
      }
    } finally {
      await Deno.remove(fake, { recursive: true });
    }
  },
});
