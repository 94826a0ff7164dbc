/**
 * Each regular file of a squashfs image by its SHA-256 (or, when it cannot be
 * read, the error's class name): what tests/squashfs_node_test.ts compares
 * between the reader under Deno and under Node (tests/_node_reader_driver.ts).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { SquashfsImage } from "../format/squashfs/squashfs_image.ts";

/**
 * Hashes every regular file of an image.
 *
 * @param path The image.
 * @returns Paths to hex SHA-256 (or an error class name); "" when the image does not open, "*" when listing fails.
 */
export async function imageFileHashes(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let image: SquashfsImage;
  try {
    image = await SquashfsImage.open(path);
  } catch (error) {
    return { "": (error as Error).constructor.name };
  }
  try {
    for await (const entry of image.list()) {
      if (entry.type !== "file") continue;
      try {
        out[entry.path] = createHash("sha256").update(await image.readFile(entry.path)).digest(
          "hex",
        );
      } catch (error) {
        out[entry.path] = (error as Error).constructor.name;
      }
    }
  } catch (error) {
    out["*"] = (error as Error).constructor.name;
  } finally {
    await image.close();
  }
  return out;
}
