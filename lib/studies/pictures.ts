/**
 * A study's pictures: the overlay grid and the report's gallery, from the
 * last seed's two models.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { Dataset } from "../data/types.ts";
import { explain, type ExplainRequest } from "../explainers/mod.ts";
import type { TwoBranchModel } from "../models/types.ts";
import { galleryPictures } from "../viz/gallery.ts";
import { type GridRow, saliencyGrid } from "../viz/grid.ts";
import type { ReportGalleryItem, ReportGallerySection } from "../viz/report.ts";
import type { SeedComparison } from "./compare.ts";
import { mapNames, type StudyDesign } from "./design.ts";
import { galleryPicks, pictureNamer } from "./gallery.ts";

/** Options of {@linkcode studyPictures}. */
export interface StudyPicturesOptions {
  /** What was compared. */
  design: StudyDesign;
  /** The samples the run was evaluated on. */
  dataset: Dataset;
  /** Where the overlay grid goes (a PNG). */
  gridPath: string;
}

/** What {@linkcode studyPictures} returns. */
export interface StudyPictures {
  /** The gallery's PNGs by key; each key is a readable, file-safe name ({@linkcode pictureNamer}). */
  images: Record<string, Uint8Array>;
  /** The report's gallery sections. */
  gallery: ReportGallerySection[];
  /** Where the grid was written. */
  gridPath: string;
}

/**
 * Draws every map of both arms on the gallery's images ({@linkcode galleryPicks}):
 * an overlay grid of the first 8 to `gridPath`, and the report's gallery with
 * its PNGs. Disposes every tensor it makes; the caller keeps the models.
 */
export async function studyPictures(
  models: { baseline: TwoBranchModel; treatment: TwoBranchModel },
  run: SeedComparison,
  options: StudyPicturesOptions,
): Promise<StudyPictures> {
  const { design, dataset } = options;
  const columns = mapNames(design);
  const modelOf = new Map([
    [design.baseline.key, models.baseline],
    [design.treatment.key, models.treatment],
  ]);
  const images: Record<string, Uint8Array> = {};
  const name = pictureNamer();
  const rows: GridRow[] = [];
  const gallery: ReportGallerySection[] = [];
  let item = 0;
  for (const section of galleryPicks(run, design)) {
    const items: ReportGalleryItem[] = [];
    for (const r of section.picks) {
      const sample = await dataset.load(r.index);
      const { width, height } = sample.image;
      const x = tf.tensor4d(sample.image.data, [1, height, width, 3]);
      const maps: Record<string, Float32Array> = {};
      try {
        for (const column of columns) {
          const [, key, method] = column.match(/^\((.+?)\) (.+)$/)!;
          const m = explain(modelOf.get(key)!, x, { method } as ExplainRequest);
          try {
            maps[column] = await m.data() as Float32Array;
          } finally {
            m.dispose();
          }
        }
      } finally {
        x.dispose();
      }
      if (rows.length < 8) rows.push({ image: sample.image, mask: sample.mask, maps });
      item += 1;
      const className = dataset.classNames[r.label];
      const pics = await galleryPictures(sample, maps, images, {
        key: (label) => name({ className, item, label }),
      });
      const recA = run.a.perImage.find((q) => q.index === r.index)!;
      const tag = (key: string, scores: typeof r.scores) =>
        Object.fromEntries(Object.entries(scores).map(([k, v]) => [`(${key}) ${k}`, v]));
      items.push({
        id: r.id,
        label: className,
        predicted: `(${design.baseline.key}) ${dataset.classNames[recA.predicted]}, ` +
          `(${design.treatment.key}) ${dataset.classNames[r.predicted]}`,
        confidence: r.confidence,
        images: pics,
        scores: {
          ...tag(design.baseline.key, recA.scores),
          ...tag(design.treatment.key, r.scores),
        },
      });
    }
    gallery.push({ title: section.title, items });
  }
  await saliencyGrid(rows, { columns, path: options.gridPath });
  return { images, gallery, gridPath: options.gridPath };
}
