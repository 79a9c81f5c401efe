// Module entry: `import { init } from '.../aa.mjs'; const aa = init({ site, endpoint })`.
export { init } from './tracer';
export type { Api, ChartAction, ChartDetails, Config } from './types';
