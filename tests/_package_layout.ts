/**
 * Helpers for the tests that run pbundle the way users get it: the files
 * `deno publish` would upload, a cache directory that reuses the machine's
 * Node toolchain, and an environment that points Deno at the usual DENO_DIR
 * even when XDG_CACHE_HOME moves (Deno's default DENO_DIR follows it).
 *
 * @module
 */

import { copyFile, mkdir, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { userCacheDir } from "../runtime/user_cache_dir.ts";

/** The repository root. */
export const REPO = fileURLToPath(new URL("..", import.meta.url));

/**
 * Lists the files `deno publish --dry-run` would upload, relative to the repository.
 *
 * @returns Sorted relative paths.
 */
export async function publishedFiles(): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`deno publish --dry-run failed:\n${text}`);
  const prefix = new URL(".", `file://${REPO.endsWith("/") ? REPO : `${REPO}/`}`).href;
  const files: string[] = [];
  for (const match of text.matchAll(/(file:\/\/\S+) \(/g)) {
    const url = match[1]!;
    if (url.startsWith(prefix)) files.push(decodeURIComponent(url.slice(prefix.length)));
  }
  return files.sort();
}

/**
 * Copies the published files into `dir`, laid out as JSR serves them (paths
 * relative to the package root; modes kept so AppRun stays executable).
 *
 * @param dir The package directory to fill.
 * @returns The files copied.
 */
export async function copyPublishedPackage(dir: string): Promise<string[]> {
  const files = await publishedFiles();
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(REPO, file), join(dir, file));
    await Deno.chmod(join(dir, file), (await Deno.stat(join(REPO, file))).mode! & 0o777);
  }
  return files;
}

/**
 * Makes `<cacheHome>/pbundle/toolchain` point at this machine's toolchain
 * cache, so a fresh XDG_CACHE_HOME builds runtimes without downloading Node again.
 *
 * @param cacheHome The XDG_CACHE_HOME to prepare.
 */
export async function shareToolchain(cacheHome: string): Promise<void> {
  const shared = join(userCacheDir(), "toolchain");
  await mkdir(shared, { recursive: true });
  await mkdir(join(cacheHome, "pbundle"), { recursive: true });
  await symlink(shared, join(cacheHome, "pbundle", "toolchain"));
}

/**
 * Returns the DENO_DIR this process uses, so children with another
 * XDG_CACHE_HOME keep using the npm and module caches already filled.
 *
 * @returns The directory.
 */
export async function denoDir(): Promise<string> {
  const set = Deno.env.get("DENO_DIR");
  if (set) return set;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return (JSON.parse(new TextDecoder().decode(output.stdout)) as { denoDir: string }).denoDir;
}

/** The Deno permissions of the README's `deno run jsr:@pbundle/pbundle/cli` line and examples/build_script.ts's header. */
export const SOURCE_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--allow-net",
];
