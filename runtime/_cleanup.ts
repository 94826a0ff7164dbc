/**
 * The run's cleanup stack: unmounting and removing what this run created. Each
 * step is synchronous, so the stack also runs inside a signal handler, and it
 * runs once, however the run ends.
 *
 * @module
 */

const steps: (() => void)[] = [];
let ran = false;
const handles = new WeakMap<() => void, () => void>();

/**
 * Adds a cleanup step; steps run last added, first run.
 *
 * @param step A synchronous function; its errors are ignored.
 * @returns A function that runs the step now and removes it from the stack.
 */
export function onCleanup(step: () => void): () => void {
  steps.push(step);
  const handle = () => {
    const index = steps.lastIndexOf(step);
    if (index >= 0) {
      steps.splice(index, 1);
      try {
        step();
      } catch { /* best effort */ }
    }
  };
  handles.set(handle, step);
  return handle;
}

/**
 * Forgets a cleanup step without running it.
 *
 * @param handle What {@linkcode onCleanup} returned.
 */
export function dropCleanup(handle: () => void): void {
  const step = handles.get(handle);
  if (!step) return;
  const index = steps.lastIndexOf(step);
  if (index >= 0) steps.splice(index, 1);
}

/** Runs every cleanup step once, newest first. */
export function runCleanup(): void {
  if (ran) return;
  ran = true;
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      step();
    } catch { /* best effort: the next steps still run */ }
  }
}
