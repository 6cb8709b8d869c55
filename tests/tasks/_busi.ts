// A small BUSI layout for the task tests (the loader's own fixture is in
// tests/datasets/busi_test.ts). Shared by the task tests.
import * as path from "node:path";
import { writeMask, writeRectImage } from "../datasets/_loader_fixtures.ts";

/** Options of {@linkcode writeBusiFixture}. */
export interface BusiFixtureOptions {
  /** Images in each class folder. @default {3} */
  perClass?: number;
  /** Also file one image both as `benign/twin.png` and `malignant/twin.png`. @default {false} */
  twin?: boolean;
}

/**
 * Writes BUSI's layout under `root`: `perClass` 16 × 16 images per class
 * folder, each with a bright square at its own place (no two alike), the
 * lesion images with their masks; with `twin`, one more image, the same
 * pixels in `benign/` and `malignant/`. Returns the ids of the two twins.
 */
export async function writeBusiFixture(
  root: string,
  { perClass = 3, twin = false }: BusiFixtureOptions = {},
): Promise<string[]> {
  const size = 16;
  let k = 0;
  for (const c of ["benign", "malignant", "normal"]) {
    for (let i = 1; i <= perClass; i++, k++) {
      const rect = { x: k % 12, y: Math.floor(k / 12) * 4, w: 4, h: 4 };
      await writeRectImage(path.join(root, c, `${c} (${i}).png`), size, size, rect);
      await writeMask(path.join(root, c, `${c} (${i})_mask.png`), size, size, [rect]);
    }
  }
  if (!twin) return [];
  const rect = { x: 2, y: 9, w: 7, h: 5 };
  for (const c of ["benign", "malignant"]) {
    await writeRectImage(path.join(root, c, "twin.png"), size, size, rect);
    await writeMask(path.join(root, c, "twin_mask.png"), size, size, [rect]);
  }
  return ["benign/twin", "malignant/twin"];
}
