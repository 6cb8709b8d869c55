/**
 * Pictures of saliency: colour maps, overlays (heatmap, mask contour, boxes,
 * colour bar) and grids of methods, as PNG through sharp. Nothing in the
 * core imports this folder.
 *
 * @module
 */
export * from "./colormap.ts";
export * from "./overlay.ts";
export * from "./grid.ts";
export * from "./image_png.ts";
export * from "./report.ts";
export * from "./gallery.ts";
