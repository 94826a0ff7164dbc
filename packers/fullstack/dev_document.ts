/**
 * The document `pbundle dev` hosts: a project's plan with its source paths.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FullstackDocument } from "../../runtime/fullstack/document.ts";
import type { PackConfig } from "./config.ts";
import { planFullstack } from "./plan_fullstack.ts";

/**
 * The document `pbundle dev` hosts: the plan's document with source paths.
 *
 * @param config The configuration.
 * @returns The document (absolute paths, packed = false).
 */
export function devDocument(config: PackConfig): FullstackDocument {
  const doc = planFullstack(config, { strategy: "system" }).document;
  doc.packed = false;
  doc.frontend = config.app.frontendPath;
  if (doc.python) {
    const entry = config.python.entryPoint;
    let codeDir = config.python.includePaths[0] ?? config.dir;
    if ("file" in entry) {
      codeDir = config.python.includePaths.find((p) => existsSync(join(p, entry.file))) ?? codeDir;
    }
    doc.python.entry = entry;
    doc.python.codeDir = codeDir;
    doc.python.extraPaths = config.python.includePaths;
    doc.python.sitePackages = join(codeDir, ".pbundle-no-site-packages");
    doc.python.binDir = join(codeDir, "bin");
    doc.python.optimize = config.python.optimize;
    doc.python.strategy = config.python.strategy;
  }
  return doc;
}
