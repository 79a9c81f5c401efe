// Build-time constants set by esbuild's `define` (scripts/build.mjs); unused features are
// removed from the bundle as dead code. Vitest defines them too (vitest.config.ts).
declare const __VERSION__: string;
/** product_impression through IntersectionObserver */
declare const __IMPRESSIONS__: boolean;
/** chart_interaction: data-aa-action markup and aa.chart() */
declare const __CHARTS__: boolean;
/** affiliate links through the collector's /r redirect */
declare const __REDIRECT__: boolean;
/** postMessage bridge for charts in embedded iframes */
declare const __BRIDGE__: boolean;
/** Wix analytics PageView events as a navigation signal */
declare const __WIX__: boolean;

// Not yet in TypeScript's DOM library.
interface Document {
  readonly prerendering?: boolean;
}
interface PerformanceNavigationTiming {
  readonly activationStart: number;
}
