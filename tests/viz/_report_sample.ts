/** Sample report data for the report tests: every section, and a hostile class name. */
import { loadSharp } from "../../lib/deps.ts";
import type { ReportData } from "../../lib/viz/report.ts";

/** A class name that would run script if it were read as HTML. */
export const EVIL = "<img src=x onerror=alert(1)>";

/** A small RGB PNG: a diagonal gradient, or a blob whose centre is at (cx, cy). */
async function png(kind: "image" | "map", cx = 0.5, cy = 0.5): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const s = 48;
  const px = new Uint8Array(s * s * 3);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const i = (y * s + x) * 3;
      if (kind === "image") {
        px[i] = 60 + 3 * x;
        px[i + 1] = 90 + 2 * y;
        px[i + 2] = 140;
      } else {
        const d = Math.exp(-(((x / s - cx) ** 2) + ((y / s - cy) ** 2)) * 18);
        px[i] = Math.round(255 * d);
        px[i + 1] = Math.round(120 * d);
        px[i + 2] = Math.round(255 * (1 - d));
      }
    }
  }
  return new Uint8Array(
    await sharp(px, { raw: { width: s, height: s, channels: 3 } }).png().toBuffer(),
  );
}

const ms = (mean: number, half: number, scored = 40, excluded = 2) => ({
  mean,
  ci: [mean - half, mean + half] as [number, number],
  scored,
  excluded,
});

/** The sample `results.json` object and its gallery pictures. */
export async function sampleReport(): Promise<
  { results: ReportData; images: Record<string, Uint8Array> }
> {
  const classNames = ["cat", "dog", EVIL, "bird & fish"];
  const trainLog = Array.from({ length: 12 }, (_, i) => ({
    epoch: i + 1,
    metrics: {
      train_loss: 1.4 * Math.exp(-i / 4) + 0.1,
      train_ce: 1.2 * Math.exp(-i / 4) + 0.08,
      train_rrr: 0.2 * Math.exp(-i / 3) + 0.02,
      val_loss: 1.5 * Math.exp(-i / 5) + 0.2,
      val_ce: 1.3 * Math.exp(-i / 5) + 0.15,
      val_rrr: 0.25 * Math.exp(-i / 4) + 0.05,
      val_accuracy: 0.3 + 0.6 * (1 - Math.exp(-i / 3)),
    },
  }));
  const images: Record<string, Uint8Array> = {};
  const methods = ["grad-cam", "rise"];
  const items = async (tag: string, n: number) => {
    const out = [];
    for (let k = 0; k < n; k++) {
      const id = `${tag}-${k}`;
      images[`${id}/image`] = await png("image");
      for (const [m, method] of methods.entries()) {
        images[`${id}/${method}`] = await png("map", 0.3 + 0.2 * k + 0.1 * m, 0.4 + 0.1 * m);
      }
      out.push({
        id: k === 0 ? `${EVIL}.jpg` : `${id}.jpg`,
        label: classNames[k % 4],
        predicted: classNames[(k + (tag === "worst" ? 1 : 0)) % 4],
        confidence: 0.9 - 0.1 * k,
        images: [
          { label: "image", image: `${id}/image` },
          ...methods.map((method) => ({ label: method, image: `${id}/${method}` })),
        ],
        scores: Object.fromEntries(methods.map((method, m) => [method, {
          pointingGame: (k + m) % 2,
          relevanceMassAccuracy: 0.4 + 0.1 * k - 0.05 * m,
          bestIou: k === 1 ? null : 0.3 + 0.05 * k,
        }])),
      });
    }
    return out;
  };
  const results: ReportData = {
    title: `Report for ${EVIL}`,
    subtitle: "resnet18 on a 4-class toy set · seed 7",
    run: {
      task: "train",
      config: { model: "resnet18", epochs: 12, lr: 0.001, loss: ["ce", "rrr"], note: EVIL },
      seed: 7,
      versions: { saliencyLab: "0.1.0", tfjs: "4.22.0", deno: "2.9.6" },
      gitCommit: "abc1234+dirty",
      startedAt: "2026-11-26T15:00:00.000Z",
      machine: { cores: 2, os: "linux", arch: "x86_64" },
    },
    trainLog,
    comparisons: [
      {
        title: "Baseline against supervised (grad-cam)",
        groups: [
          { name: "baseline", metrics: { pointingGame: ms(0.55, 0.08), iou50: ms(0.31, 0.07) } },
          { name: "supervised", metrics: { pointingGame: ms(0.78, 0.06), iou50: ms(0.52, 0.06) } },
        ],
      },
      {
        title: "Explainer against explainer",
        groups: methods.map((name, m) => ({
          name: m === 1 ? EVIL : name,
          metrics: {
            pointingGame: ms(0.7 - 0.1 * m, 0.05),
            relevanceMassAccuracy: ms(0.45 - 0.05 * m, 0.04),
            deletionAuc: { mean: NaN, ci: [NaN, NaN], scored: 0, excluded: 42 },
          },
        })),
      },
    ],
    classification: {
      classNames,
      accuracy: ms(0.8, 0.04, 42, 0),
      balancedAccuracy: 0.79,
      macroF1: 0.78,
      expectedCalibrationError: 0.041,
      perClass: {
        perClass: [
          { precision: 0.9, recall: 0.82, f1: 0.858, support: 11 },
          { precision: 0.75, recall: 0.8, f1: 0.774, support: 10 },
          { precision: 0.7, recall: 0.7, f1: 0.7, support: 10 },
          { precision: 0.8, recall: 0.818, f1: 0.809, support: 11 },
        ],
        macro: { precision: 0.7875, recall: 0.7845, f1: 0.785, classes: [0, 1, 2, 3] },
      },
      confusionMatrix: [[9, 1, 1, 0], [1, 8, 1, 0], [0, 2, 7, 1], [1, 0, 1, 9]],
    },
    gallery: [
      { title: "Best", items: await items("best", 2) },
      { title: "Worst", items: await items("worst", 2) },
      { title: "Random", items: await items("random", 1) },
    ],
  };
  return { results, images };
}

/** Plotly figures the sample should draw: 4 training panels, 2 bar charts, 1 heatmap. */
export const SAMPLE_FIGURES = 7;
