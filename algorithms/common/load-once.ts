/**
 * A module loaded on first use (an optional dependency only some configurations need): the returned
 * function starts `load` at its first call and hands every caller the same promise; a failed load is
 * forgotten, so the next call tries again.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | null = null;
  return () => {
    loading ??= load().catch((e: unknown) => {
      loading = null;
      throw e;
    });
    return loading;
  };
}
