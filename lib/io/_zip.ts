// The central directory of a zip archive (PKWARE's APPNOTE, ZIP64 included),
// for PyTorch's zip checkpoints. Stored entries come back as views on the
// archive's bytes (torch.save aligns them to 64 bytes, so float32 storages
// need no copy); deflated ones are inflated with fflate. Private to lib/io/.
import { DataError } from "../data/errors.ts";
import { loadFflate } from "../deps.ts";

/** One file of an archive. */
export interface ZipEntry {
  /** Its path in the archive. */
  name: string;
  /** 0 (stored) or 8 (deflated). */
  method: number;
  /** Where its local header starts. */
  headerOffset: number;
  /** Its size in the archive. */
  compressedSize: number;
  /** Its size once extracted. */
  size: number;
}

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

/** Whether `bytes` start like a zip archive (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 &&
    bytes[3] === 4;
}

/** Reads the central directory: every entry by name. */
export function readZipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const truncated = (what: string): never => {
    throw new DataError(`the zip archive is truncated or damaged: ${what}`, { file });
  };
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) truncated("no end-of-central-directory record");
  let count = view.getUint16(eocd + 10, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const zip64 = Number(view.getBigUint64(eocd - 12, true));
    if (zip64 + 56 > bytes.length || view.getUint32(zip64, true) !== ZIP64_EOCD) {
      truncated("a bad ZIP64 end-of-central-directory record");
    }
    count = Number(view.getBigUint64(zip64 + 32, true));
    directoryOffset = Number(view.getBigUint64(zip64 + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) {
      truncated(`central directory entry ${i} is missing`);
    }
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    if (at + 46 + nameLength + extraLength > bytes.length) {
      truncated(`central directory entry ${i} is cut short`);
    }
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    let headerOffset = view.getUint32(at + 42, true);
    // ZIP64 extra field: the 64-bit values of the fields set to 0xffffffff, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === 1) {
        let field = extra + 4;
        const next = () => {
          const value = Number(view.getBigUint64(field, true));
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (headerOffset === 0xffffffff) headerOffset = next();
      }
      extra += 4 + length;
    }
    entries.set(name, {
      name,
      method: view.getUint16(at + 10, true),
      headerOffset,
      compressedSize,
      size,
    });
    at = extraEnd + commentLength;
  }
  return entries;
}

/** An entry's extracted bytes: a view on `bytes` when stored, a new array when deflated. */
export async function zipEntryBytes(
  bytes: Uint8Array,
  entry: ZipEntry,
  file: string,
): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const local = entry.headerOffset;
  if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL) {
    throw new DataError(`the zip archive is damaged: entry "${entry.name}" has no local header`, {
      file,
    });
  }
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) {
    throw new DataError(
      `the file is truncated: entry "${entry.name}" ends at byte ${end}, the file has ${bytes.length}`,
      { file },
    );
  }
  const raw = bytes.subarray(start, end);
  if (entry.method === 0) return raw;
  if (entry.method !== 8) {
    throw new DataError(
      `entry "${entry.name}" uses zip compression method ${entry.method}; only stored (0) and ` +
        `deflated (8) entries are read`,
      { file },
    );
  }
  const fflate = await loadFflate();
  try {
    return fflate.inflateSync(raw, { out: new Uint8Array(entry.size) });
  } catch (error) {
    throw new DataError(
      `entry "${entry.name}" does not inflate: ${(error as Error).message}`,
      { file },
      { cause: error },
    );
  }
}
