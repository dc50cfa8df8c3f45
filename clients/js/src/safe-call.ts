/** Runs a subscriber; its exception is reported like an event listener's, without stopping the others. */
export function safeCall(action: () => void): void {
  try {
    action();
  } catch (error) {
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    if (typeof report === 'function') report(error);
    else
      setTimeout(() => {
        throw error;
      }, 0);
  }
}
