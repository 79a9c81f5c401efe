// Small helpers shared by every module.

/** RFC 4122 version 4 UUID (Wix sites are served over HTTPS, a secure context). */
export const uuid = (): string => crypto.randomUUID();

const mem: Record<string, string> = {};

/** Read a JSON value from localStorage (or from memory when storage is blocked). */
export function load<T>(key: string): T | null {
  let v: string | null | undefined;
  try {
    v = localStorage.getItem(key);
  } catch {
    v = mem[key];
  }
  try {
    return JSON.parse(v!) as T;
  } catch {
    return null;
  }
}

/** Write a JSON value to localStorage; `null` removes it. Falls back to memory for this document. */
export function save(key: string, value: unknown): void {
  const s = JSON.stringify(value);
  mem[key] = s;
  try {
    value == null ? localStorage.removeItem(key) : localStorage.setItem(key, s);
  } catch {
    /* storage full or blocked: memory copy only */
  }
}
