/**
 * End-to-end tests of issue 3, item 12: a bundle owned by another user, in a
 * directory that user owns, run by an unprivileged user (uid 65534 through
 * setpriv: no groups, no capabilities), from a root-owned directory of mode
 * 0755 and from a read-only bind mount. Nothing is ever written beside or into
 * the bundle: its bytes, mode, owner, mtime and ctime, and the directory's
 * listing, mtime and ctime are the same after every run, and the runs leave
 * nothing in the user's $TMPDIR.
 *
 * FUSE for the unprivileged user: this machine's /dev/fuse is mode 0600, so a
 * user other than root cannot open it, which is what the mode-2 case shows (it
 * falls back to extraction with one line). The mount-mode cases give the run
 * a private mount namespace whose /dev/fuse is a node of mode 0666, the mode
 * most distributions ship, and mount through the setuid fusermount3 as the
 * user, as on a desktop. The tests need root (to drop to the user and to
 * mount); they are skipped when not root.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, chown, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  areaEnv,
  listTree,
  runBundleAsUser,
  runBundleProcess,
  type RunResult,
  type TestArea,
  withBundle,
} from "./_runtime_helper.ts";

const isRoot = Deno.uid() === 0;
const USER = 65534;
const ID = "testapp-20260101-pbundle";

/** Prints what it ran from: the data file, its uid, the filesystem type of $APPDIR's mount. */
const APPRUN = `#!/bin/sh
case "$1" in fail) echo failing; exit 42 ;; esac
fs=$(grep " $APPDIR " /proc/self/mountinfo | sed 's/.* - \\([^ ]*\\) .*/\\1/')
echo "hello from $(cat "$APPDIR/data.txt") as $(id -u) on \${fs:-no mount} with [$*]"
`;
const FILES = { AppRun: APPRUN, "data.txt": "the image", "sub/dir/file": "x" };

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Everything that a write beside or into the bundle would change. */
async function snapshot(bundle: string): Promise<Record<string, unknown>> {
  const dir = dirname(bundle);
  const [file, folder] = [await stat(bundle), await stat(dir)];
  return {
    sha256: createHash("sha256").update(await readFile(bundle)).digest("hex"),
    file: [file.size, file.mode, file.uid, file.gid, file.mtimeMs, file.ctimeMs, file.ino],
    dir: [folder.mode, folder.uid, folder.mtimeMs, folder.ctimeMs],
    listing: listTree(dir),
  };
}

/** The unprivileged user's own HOME, TMPDIR and cache, in a directory it owns. */
interface UserDirs {
  home: string;
  tmp: string;
  cache: string;
  env: Record<string, string>;
}

async function userDirs(area: TestArea): Promise<UserDirs> {
  // The area is mkdtemp's 0700: let the user through to its own directory and
  // to the bundle's directory (root-owned, 0755), and nothing more.
  await chmod(area.root, 0o755);
  const base = join(area.root, "user");
  const dirs = { home: join(base, "home"), tmp: join(base, "tmp"), cache: join(base, "cache") };
  for (const d of [base, ...Object.values(dirs)]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    await chown(d, USER, USER);
  }
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    XDG_CACHE_HOME: dirs.cache,
    LANG: "C.UTF-8",
  };
  return { ...dirs, env };
}

/** Whether the unprivileged user can open the host's /dev/fuse. */
async function userCanOpenDevFuse(): Promise<boolean> {
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${USER}`,
      `--regid=${USER}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--",
      "/bin/sh",
      "-c",
      "test -r /dev/fuse && test -w /dev/fuse",
    ],
  }).output();
  return out.success;
}

/** Where the bundle sits: its root-owned directory, or a read-only bind mount of it. */
type Location = "a root-owned directory" | "a read-only bind mount";

async function withLocation(
  area: TestArea,
  location: Location,
  fn: (bundle: string) => Promise<void>,
): Promise<void> {
  const out = dirname(area.bundle);
  const st = await stat(out);
  assert.equal(st.uid, 0);
  assert.equal(st.mode & 0o777, 0o755);
  const bundleStat = await stat(area.bundle);
  assert.equal(bundleStat.uid, 0);
  assert.equal(bundleStat.mode & 0o777, 0o755);
  if (location === "a root-owned directory") return await fn(area.bundle);
  const ro = join(area.root, "ro");
  await mkdir(ro);
  await run("mount", ["--bind", out, ro]);
  try {
    await run("mount", ["-o", "remount,bind,ro", ro]);
    await fn(join(ro, basename(area.bundle)));
  } finally {
    await run("umount", [ro]);
  }
}

/** A run as the user, checked to have changed nothing beside the bundle and left nothing in TMPDIR. */
async function runAsUser(
  bundle: string,
  args: string[],
  user: UserDirs,
  options: { openDevFuse?: boolean } = {},
): Promise<RunResult> {
  const before = await snapshot(bundle);
  const r = await runBundleAsUser(bundle, args, {
    env: user.env,
    cwd: user.home,
    uid: USER,
    openDevFuse: options.openDevFuse ?? false,
  });
  assert.deepEqual(await snapshot(bundle), before, `${args}: the bundle or its directory changed`);
  assert.deepEqual(listTree(user.tmp), [], `${args}: left in TMPDIR`);
  return r;
}

const hello = (on: string, args = "") =>
  `hello from the image as ${USER} on ${on} with [${args}]\n`;

for (const location of ["a root-owned directory", "a read-only bind mount"] as const) {
  Deno.test({
    name: `an unprivileged user runs a root-owned bundle from ${location} in extract mode`,
    ignore: !isRoot,
    async fn() {
      await withBundle({ files: FILES, runBehavior: 1 }, async (area) => {
        const user = await userDirs(area);
        await withLocation(area, location, async (bundle) => {
          let r = await runAsUser(bundle, ["a b", "c"], user);
          assert.equal(r.stderr, "");
          assert.equal(r.code, 0);
          assert.equal(r.stdout, hello("no mount", "a b c"));
          r = await runAsUser(bundle, ["fail"], user);
          assert.equal(r.code, 42, r.stderr);
          assert.equal(r.stdout, "failing\n");
          r = await runAsUser(bundle, ["--pbundle_extract_and_run", "x"], user);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, hello("no mount", "x"));
          r = await runAsUser(bundle, ["--pbundle_verify"], user);
          assert.equal(r.code, 0, r.stderr);
          // The portable directories are the one thing written beside a
          // bundle, and only when asked: here the user may not, and is told
          // so (a read-only mount the user could not write anyway is
          // EACCES too: the permission check comes first).
          const portable = join(dirname(bundle), `.${ID}.home`);
          r = await runAsUser(bundle, ["--pbundle_portableHome"], user);
          assert.equal(r.code, 1);
          assert.equal(r.stdout, "");
          assert.equal(
            r.stderr,
            `pbundle runtime: Cannot create "${portable}": permission denied (EACCES)\n`,
          );
          if (location === "a read-only bind mount") {
            // Root may write the directory, but not the mount: EROFS, not the
            // ENOENT a recursive mkdir reports there.
            const before = await snapshot(bundle);
            r = await runBundleProcess(bundle, ["--pbundle_portableHome"], { env: areaEnv(area) });
            assert.equal(r.code, 1);
            assert.equal(
              r.stderr,
              `pbundle runtime: Cannot create "${portable}": read-only file system (EROFS)\n`,
            );
            assert.deepEqual(await snapshot(bundle), before);
          }
        });
      });
    },
  });

  Deno.test({
    name:
      `an unprivileged user runs a root-owned bundle from ${location} in cached extract mode, the cache in its own dir`,
    ignore: !isRoot,
    async fn() {
      await withBundle(
        { files: FILES, runBehavior: 1, disableRandomWorkDir: true },
        async (area) => {
          const user = await userDirs(area);
          await withLocation(area, location, async (bundle) => {
            for (const args of [["first"], ["second"]]) {
              const r = await runAsUser(bundle, args, user);
              assert.equal(r.code, 0, r.stderr);
              assert.equal(r.stdout, hello("no mount", args[0]));
            }
            const apps = join(user.cache, "pbundle", "apps", ID);
            const [hash, ...others] = await readdir(apps);
            assert.deepEqual(others, [], "one extraction");
            assert.equal((await stat(join(apps, hash!, "complete"))).uid, USER);
          });
        },
      );
    },
  });

  Deno.test({
    name:
      `an unprivileged user runs a root-owned bundle from ${location} in mode 2: mounted when it may open /dev/fuse, else extracted with one line`,
    ignore: !isRoot,
    async fn() {
      await withBundle({ files: FILES, runBehavior: 2 }, async (area) => {
        const user = await userDirs(area);
        await withLocation(area, location, async (bundle) => {
          if (await userCanOpenDevFuse()) {
            const r = await runAsUser(bundle, ["y"], user);
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^hello from the image as 65534 on fuse\S* with \[y\]\n$/);
          } else {
            // This machine: /dev/fuse is 0600 root's.
            const r = await runAsUser(bundle, ["y"], user);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, hello("no mount", "y"));
            assert.equal(
              r.stderr,
              "pbundle runtime: /dev/fuse is missing or not accessible; extracting instead\n",
            );
          }
          // With a /dev/fuse the user may open, mode 2 mounts, as the user.
          const r = await runAsUser(bundle, ["z"], user, { openDevFuse: true });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stderr, "");
          assert.match(r.stdout, /^hello from the image as 65534 on fuse\S* with \[z\]\n$/);
        });
      });
    },
  });

  for (const fixed of [false, true]) {
    Deno.test({
      name: `an unprivileged user mounts a root-owned bundle from ${location} (mode 0, ${
        fixed ? "fixed" : "random"
      } work dir) through fusermount3`,
      ignore: !isRoot,
      async fn() {
        await withBundle(
          { files: FILES, runBehavior: 0, disableRandomWorkDir: fixed },
          async (area) => {
            const user = await userDirs(area);
            await withLocation(area, location, async (bundle) => {
              let r = await runAsUser(bundle, ["m n"], user, { openDevFuse: true });
              assert.equal(r.code, 0, r.stderr);
              assert.equal(r.stderr, "");
              assert.match(r.stdout, /^hello from the image as 65534 on fuse\S* with \[m n\]\n$/);
              r = await runAsUser(bundle, ["fail"], user, { openDevFuse: true });
              assert.equal(r.code, 42, r.stderr);
              assert.equal(r.stdout, "failing\n");
            });
          },
        );
      },
    });
  }
}
