/**
 * AppBundleIDs in pelf's three forms (docs/FORMAT.md, "AppBundleID"):
 *
 * - I: `name-date-maintainer`, the date as YYYYMMDD, YYYY_MM_DD or DD_MM_YYYY
 *   (pelf also takes a version string in the date's place);
 * - II: `name#repo[:version]`;
 * - III: `name#repo[:version]@date`.
 *
 * @module
 */

/** A parsed AppBundleID. */
export interface AppBundleIdParts {
  /** Which of pelf's forms it follows. */
  form: "I" | "II" | "III";
  /** The application's name. */
  name: string;
  /** The maintainer (form I) or repository (forms II and III). */
  repo: string;
  /** The version, when given. */
  version?: string;
  /** The date as written, when given. */
  date?: string;
}

const NAME = String.raw`[A-Za-z0-9._/][A-Za-z0-9._/\-]*`;
const DATE = String.raw`\d{8}|\d{4}_\d{2}_\d{2}|\d{2}_\d{2}_\d{4}`;
const VERSION = String.raw`[A-Za-z0-9._]+`;
const FORM_I = new RegExp(`^(${NAME})-(${DATE}|${VERSION})-([A-Za-z0-9._/]+)$`);
const FORM_II = new RegExp(`^(${NAME})#([A-Za-z0-9._/\\-]+)(?::(${VERSION}))?$`);
const FORM_III = new RegExp(`^(${NAME})#([A-Za-z0-9._/\\-]+)(?::(${VERSION}))?@(${DATE})$`);

/** Checks that a written date names a real calendar day. */
function isRealDate(text: string): boolean {
  let y: number, m: number, d: number;
  if (/^\d{8}$/.test(text)) {
    [y, m, d] = [+text.slice(0, 4), +text.slice(4, 6), +text.slice(6, 8)];
  } else if (/^\d{4}_\d{2}_\d{2}$/.test(text)) {
    [y, m, d] = text.split("_").map(Number) as [number, number, number];
  } else {
    [d, m, y] = text.split("_").map(Number) as [number, number, number];
  }
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/**
 * Parses an AppBundleID in one of pelf's three forms.
 *
 * @example
 * ```ts
 * import { parseAppBundleId } from "./appbundle_id.ts";
 * parseAppBundleId("hello#pbundle/examples:1.0"); // { form: "II", name: "hello", ... }
 * ```
 *
 * @param id The ID.
 * @returns Its parts, or undefined when it follows none of the forms.
 */
export function parseAppBundleId(id: string): AppBundleIdParts | undefined {
  let m = FORM_III.exec(id);
  if (m && isRealDate(m[4]!)) {
    return withOptional({ form: "III", name: m[1]!, repo: m[2]! }, m[3], m[4]);
  }
  m = FORM_II.exec(id);
  if (m) return withOptional({ form: "II", name: m[1]!, repo: m[2]! }, m[3], undefined);
  m = FORM_I.exec(id);
  if (m) {
    const middle = m[2]!;
    const isDate = new RegExp(`^(?:${DATE})$`).test(middle);
    if (isDate && !isRealDate(middle)) return undefined;
    return withOptional(
      { form: "I", name: m[1]!, repo: m[3]! },
      isDate ? undefined : middle,
      isDate ? middle : undefined,
    );
  }
  return undefined;
}

function withOptional(
  parts: AppBundleIdParts,
  version: string | undefined,
  date: string | undefined,
): AppBundleIdParts {
  if (version !== undefined) parts.version = version;
  if (date !== undefined) parts.date = date;
  return parts;
}

/**
 * Derives a bundle's file name from its ID: the name part, made safe for a file
 * name, then `.AppBundle` (`.dwfs.AppBundle` for DwarFS images).
 *
 * @param id The AppBundleID.
 * @param filesystem The image's filesystem.
 * @returns A file name such as "hello.AppBundle".
 */
export function outputNameFromId(id: string, filesystem: "squashfs" | "dwarfs"): string {
  const name = parseAppBundleId(id)?.name ?? id;
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[.]+/, "") || "app";
  return `${safe}${filesystem === "dwarfs" ? ".dwfs" : ""}.AppBundle`;
}
