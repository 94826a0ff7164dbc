/**
 * A generated placeholder icon: a 64x64 PNG in a colour derived from the app's
 * name, for apps whose [bundle] has no icon (so .DirIcon and --pbundle_pngIcon
 * always have something to show).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { encodePng } from "../../format/png.ts";

const SIZE = 64;

/**
 * Makes a 64x64 RGBA PNG: a rounded square in a colour derived from the name.
 *
 * @param name The app's name.
 * @returns The PNG bytes (deterministic for a name).
 */
export function pngIcon(name: string): Uint8Array {
  const digest = createHash("sha256").update(name).digest();
  const [r, g, b] = [64 + (digest[0]! % 160), 64 + (digest[1]! % 160), 64 + (digest[2]! % 160)];
  const rgba = new Uint8Array(SIZE * SIZE * 4);
  const radius = 12;
  for (let y = 0; y < SIZE; y++) {
    const row = y * SIZE * 4;
    for (let x = 0; x < SIZE; x++) {
      const dx = Math.max(radius - x, x - (SIZE - 1 - radius), 0);
      const dy = Math.max(radius - y, y - (SIZE - 1 - radius), 0);
      const inside = dx * dx + dy * dy <= radius * radius;
      rgba.set([r, g, b, inside ? 255 : 0], row + x * 4);
    }
  }
  return encodePng(SIZE, SIZE, rgba);
}
