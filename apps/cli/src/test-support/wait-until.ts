/** Polls `condition` every 5 ms for up to 2 s. */
export async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met within 2 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
