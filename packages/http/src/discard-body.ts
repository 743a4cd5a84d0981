/** How much of a discarded body is read to keep its connection; past that the body is cancelled. */
const maxDrainBytes = 64 * 1024;

/**
 * Gets rid of a response the caller will never see. Reading a short body to its end lets the connection go
 * back to the pool (cancelling it would close the socket); a long one is cancelled rather than downloaded.
 * Runs in the background and never throws.
 */
export function discardBody(response: Response): void {
  const body = response.body;
  if (body === null || body.locked) return;
  void drain(body.getReader());
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      bytes += value.byteLength;
      if (bytes > maxDrainBytes) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The body failed on its own: nothing is left to release.
  }
}
