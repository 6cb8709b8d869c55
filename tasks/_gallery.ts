// Gallery pictures for the tasks' reports. Private to tasks/.
import { imagePng, overlay } from "../mod.ts";
import type { ReportImage, Sample } from "../mod.ts";

/**
 * Encodes a sample's pictures as PNGs into `images` (keyed `<id>/<label>`):
 * the image, its mask's contour ("ground truth", where it has a mask), and
 * one overlay per map, in the maps' order. Returns the report's pictures.
 */
export async function galleryPictures(
  sample: Sample,
  maps: Record<string, Float32Array>,
  images: Record<string, Uint8Array>,
): Promise<ReportImage[]> {
  const pictures = [{ label: "image", img: sample.image }];
  if (sample.mask) {
    pictures.push({
      label: "ground truth",
      img: overlay(sample.image, sample.mask, { alpha: 0, mask: sample.mask }),
    });
  }
  for (const [label, map] of Object.entries(maps)) {
    pictures.push({ label, img: overlay(sample.image, map, { mask: sample.mask }) });
  }
  const keyOf = (label: string) => `${sample.id}/${label === "ground truth" ? "mask" : label}`;
  for (const p of pictures) images[keyOf(p.label)] = await imagePng(p.img);
  return pictures.map((p) => ({ label: p.label, image: keyOf(p.label) }));
}
