// Script-tag entry: `window.aaConfig` in, `window.aa` out. Loading the script twice is harmless.
import { init } from './tracer';

const w = window as unknown as { aa?: unknown; aaConfig?: Parameters<typeof init>[0] };
if (!w.aa && w.aaConfig) w.aa = init(w.aaConfig);
