/**
 * The body read for storing, as one exact-size copy of its chunks: they may be views of larger buffers
 * (socket reads, pooled allocations) that a stored entry must not keep alive.
 */
export function joinChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
