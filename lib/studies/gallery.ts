/**
 * Which test images a study's gallery shows, and the file names of their
 * pictures.
 *
 * @module
 */
import type { ImageRecord } from "../eval/evaluate.ts";
import type { SeedComparison } from "./compare.ts";
import type { StudyDesign } from "./design.ts";

/** A section of the gallery: a title and its images' records (the treatment's). */
export interface GallerySection {
  title: string;
  picks: ImageRecord[];
}

/**
 * The gallery's sections: the four test images where the design's
 * highlighted pair gains most (the treatment's map minus the baseline's on
 * the highlighted metric) and the four where it gains least; the first four
 * test images where no image has both scores.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { compareGradcamDesign, galleryPicks, type SeedComparison } from "../../mod.ts";
 * const record = (index: number, energy: number) => ({
 *   index, id: `s${index}`, label: 0, predicted: 0, confidence: 1,
 *   scores: { "grad-cam": { energyPointingGame: 0.5 }, branch: { energyPointingGame: energy } },
 * });
 * const energies = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4];
 * const perImage = energies.map((e, i) => record(i, e));
 * const run = { a: { perImage }, b: { perImage } } as unknown as SeedComparison;
 * const [most, least] = galleryPicks(run, compareGradcamDesign());
 * assert.deepStrictEqual(most.picks.map((r) => r.index), [1, 6, 4, 7]);
 * assert.deepStrictEqual(least.picks.map((r) => r.index), [0, 5, 3, 8]);
 * ```
 */
export function galleryPicks(run: SeedComparison, design: StudyDesign): GallerySection[] {
  const { comparison, metric } = design.highlight;
  const pair = design.pairs.find((p) => p.name === comparison);
  if (!pair) throw new RangeError(`The gallery's comparison "${comparison}" is not in the design`);
  const byIndex = new Map(run.a.perImage.map((r) => [r.index, r]));
  const byGain = run.b.perImage
    .map((r) => ({
      r,
      gain: (r.scores[pair.treatment]?.[metric] ?? NaN) -
        (byIndex.get(r.index)?.scores[pair.baseline]?.[metric] ?? NaN),
    }))
    .filter((x) => Number.isFinite(x.gain))
    .sort((x, y) => y.gain - x.gain);
  if (byGain.length === 0) return [{ title: "Test images", picks: run.b.perImage.slice(0, 4) }];
  const what = metric === "energyPointingGame" ? "energy on object" : metric;
  return [
    {
      title: `Largest gain of (${design.treatment.key})'s ${pair.treatment} map over ` +
        `(${design.baseline.key})'s ${pair.baseline === "grad-cam" ? "Grad-CAM" : pair.baseline} ` +
        `(${what})`,
      picks: byGain.slice(0, 4).map((x) => x.r),
    },
    {
      title: "Smallest gain",
      picks: byGain.slice(Math.max(4, byGain.length - 4)).reverse().map((x) => x.r),
    },
  ];
}

/** Parts of a picture's name: see {@linkcode pictureNamer}. */
export interface PictureName {
  /** The class of the pictured image. */
  className: string;
  /** The gallery item's number. */
  item: number;
  /** The picture's label: `"image"`, `"ground truth"`, a map's name. */
  label: string;
}

/**
 * A namer of pictures whose names are readable and file-safe (no `%`, no
 * `/`): `<slug of the class>-<item number>-<slug of the label>`, in
 * lower-case ASCII letters, digits and `-`; each name it gives differs from
 * those it gave before (`-2`, `-3` … are added where two would clash).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pictureNamer } from "./gallery.ts";
 * const name = pictureNamer();
 * assert.equal(name({ className: "Malignant (BI-RADS 5)", item: 1, label: "(b) grad-cam" }), "malignant-bi-rads-5-1-b-grad-cam");
 * assert.equal(name({ className: "Malignant (BI-RADS 5)", item: 1, label: "(b) grad—cam" }), "malignant-bi-rads-5-1-b-grad-cam-2");
 * assert.equal(name({ className: "Ünïcode/class", item: 2, label: "ground truth" }), "unicode-class-2-ground-truth");
 * ```
 */
export function pictureNamer(): (picture: PictureName) => string {
  const used = new Set<string>();
  return ({ className, item, label }) => {
    const base = `${slug(className) || "class"}-${item}-${slug(label) || "picture"}`;
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
    used.add(name);
    return name;
  };
}

/** Lower-case ASCII letters and digits, runs of anything else as one `-`, none at the ends. */
function slug(text: string): string {
  return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}
