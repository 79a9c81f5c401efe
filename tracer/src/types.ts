// Event payloads as sent on the wire: plain JSON mirrors of ../schemas/*.avsc plus the
// `event_type` discriminator. Server-set context fields (collector_received_at, geo_*,
// ip_hash, user_agent) are never sent by the tracer.

/** Options read from `window.aaConfig` (IIFE) or passed to `init()` (ESM). */
export interface Config {
  /** Site id, copied into every event's context.site_id. */
  site: string;
  /** Collector base URL without trailing slash, e.g. "https://collect.example.com". */
  endpoint: string;
  /** Track nothing (and store nothing) until consent is granted by the Wix consent policy or `aa.consent(true)`. */
  requireConsent?: boolean;
  /** Track nothing when the browser sends Do-Not-Track or Global Privacy Control. */
  respectDnt?: boolean;
  /** Route every affiliate link through the collector's `/r` redirect (per link: `data-aa-redirect`). */
  redirect?: boolean;
  /** Fraction of a product element that must be visible to count as an impression (default 0.5). */
  impressionThreshold?: number;
  /** Milliseconds between batch flushes (default 3000). */
  flushInterval?: number;
  /** Events per batch before an immediate flush (default 20). */
  maxBatch?: number;
  /** The tracer runs inside an embedded chart iframe: forward events to the parent page's tracer. */
  frame?: boolean;
  /** Log dropped events and failures to the console. */
  debug?: boolean;
}

export type ConsentState = 'granted' | 'denied' | 'not_required' | 'unknown';
export type DeviceClass = 'desktop' | 'mobile' | 'tablet' | 'unknown';
export type NavigationType =
  | 'navigate'
  | 'reload'
  | 'back_forward'
  | 'prerender'
  | 'spa'
  | 'bfcache_restore'
  | 'unknown';
export type ChartAction = 'filter' | 'sort' | 'expand' | 'collapse' | 'compare' | 'paginate';
export type ClickTransport = 'fetch_keepalive' | 'beacon' | 'redirect' | 'unknown';

/** Nullable fields are omitted when absent (the collector applies the Avro defaults). */
export interface Utm {
  source?: string | null;
  medium?: string | null;
  campaign?: string | null;
  term?: string | null;
  content?: string | null;
}

/** Campaign data of the session's landing URL. */
export interface Attribution {
  utm: Utm;
  gclid?: string | null;
  fbclid?: string | null;
  msclkid?: string | null;
}

/** Visitor and session kept in localStorage (short keys: it is stored on every event). */
export interface SessionState {
  /** visitor id */
  v: string;
  /** session index, 1-based */
  n: number;
  /** session id */
  s: string;
  /** last activity, epoch ms */
  t: number;
  /** attribution of the landing URL */
  a: Attribution;
}

export interface Context extends Attribution {
  tracker_version: string;
  site_id: string;
  page_url: string;
  page_path: string;
  page_title: string | null;
  referrer: string | null;
  session_id: string;
  session_index: number;
  visitor_id: string;
  device_created_at: number;
  /** Set when the batch is sent. */
  device_sent_at?: number;
  device_class: DeviceClass;
  viewport_width: number | null;
  viewport_height: number | null;
  language: string | null;
  timezone: string | null;
  consent_state: ConsentState;
}

export interface PageViewFields {
  page_view_id: string;
  navigation_type: NavigationType;
  wix_page_id: string | null;
}

export interface ChartInteractionFields {
  page_view_id: string;
  chart_id: string;
  action: ChartAction;
  field: string | null;
  value: string | null;
  result_count: number | null;
  visible_product_order: string[];
}

export interface ChartState {
  sort_field: string | null;
  sort_direction: string | null;
  filters: Record<string, string>;
  page: number | null;
}

export interface ProductImpressionFields {
  page_view_id: string;
  impression_id: string;
  chart_id: string | null;
  product_id: string;
  position: number;
  chart_state: ChartState | null;
}

export interface AffiliateClickFields {
  page_view_id: string;
  click_id: string;
  link_id: string;
  product_id: string;
  merchant: string;
  position: number;
  placement: string;
  chart_id: string | null;
  impression_id: string | null;
  destination_domain: string;
  transport: ClickTransport;
}

export interface FieldsByType {
  page_view: PageViewFields;
  chart_interaction: ChartInteractionFields;
  product_impression: ProductImpressionFields;
  affiliate_click: AffiliateClickFields;
}
export type EventType = keyof FieldsByType;

/** Fields an event carries before the context is attached (page_view_id is added by `emit`). */
export type Payload<T extends EventType> = Omit<FieldsByType[T], 'page_view_id'> & { page_view_id?: string };

export type Ev = {
  [T in EventType]: { event_type: T; event_id: string; context: Context } & FieldsByType[T];
}[EventType];

/** Details of a chart interaction given to `aa.chart()`. */
export interface ChartDetails {
  field?: string | null;
  value?: string | null;
  /** Number of products matching the chart's current state; defaults to the visible products. */
  resultCount?: number | null;
  /** Product ids in display order; defaults to the visible `[data-aa-product]` elements. */
  order?: string[];
}

/** The public API, `window.aa`. */
export interface Api {
  /** Record a chart interaction. */
  chart(chartId: string, action: ChartAction, details?: ChartDetails): void;
  /** Record a page view now (for client-side navigations the tracer cannot see). */
  page(wixPageId?: string): void;
  /** Set analytics consent from the site's own consent banner; `false` also erases stored ids and queued events. */
  consent(granted: boolean): void;
  /** Send queued events now. */
  flush(): void;
}
