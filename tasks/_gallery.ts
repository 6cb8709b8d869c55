// Gallery pictures for the tasks' reports: lib/viz/gallery.ts. Private to tasks/.
export { galleryPictures } from "../mod.ts";
