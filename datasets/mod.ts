/**
 * Dataset loaders and generators, one file per format: CUB-200-2011,
 * Stanford Cars, BUSI, image folders, IDX (MNIST, Fashion-MNIST) and the
 * built-in synthetic set, each registered for `--dataset` flags.
 *
 * @module
 */
export * from "./synthetic.ts";
export * from "./cub.ts";
export * from "./stanford_cars.ts";
export * from "./busi.ts";
export * from "./image_folder.ts";
export * from "./idx.ts";
export * from "./fashion_canvas.ts";
export * from "./registry.ts";
