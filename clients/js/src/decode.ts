/** `raw` parsed as JSON, or `raw` itself when it is not JSON. */
export function decodeData(raw: string): unknown {
  if (raw === '') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
