// The tracer: reads top to bottom as consent → context → page views → clicks → impressions →
// charts → iframe bridge → public API. Optional features sit behind build-time flags.
import { startsClick } from './clicks';
import { allowed, consentState, type WixPolicy } from './consent';
import { attribution, touch } from './session';
import { createTransport } from './transport';
import type {
  Api,
  Attribution,
  ChartAction,
  ChartState,
  Config,
  ConsentState,
  Context,
  Ev,
  EventType,
  NavigationType,
  Payload,
  SessionState,
} from './types';
import { load, save, uuid } from './util';

export const SESSION_KEY = 'aa_s';
/** Delay before reading a chart's visible products after a declarative action, so the site's own handler has re-rendered it. */
export const SETTLE_MS = 250;
const PRODUCT = '[data-aa-product]';
const CHART = '[data-aa-chart]';

type El = HTMLElement;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export function init(cfg: Config): Api {
  const w = window as Any;
  const d = document;
  const nav = navigator as Any;
  const log = (...a: unknown[]): void => void (cfg.debug && console.warn('[aa]', ...a));
  const on = (t: EventTarget, type: string, fn: (e: Any) => unknown, capture?: boolean): void =>
    t.addEventListener(type, fn, capture);
  const closest = (e: Event | Element | null, sel: string): El | null =>
    e && (((e instanceof Event ? e.target : e) as Element).closest?.(sel) as El | null);
  const tr = createTransport(cfg.endpoint + '/v1/events', cfg.maxBatch || 20, cfg.flushInterval || 3000, log);

  // ---- consent ---------------------------------------------------------------------------
  let explicit: boolean | undefined;
  const dnt = cfg.respectDnt && (nav.doNotTrack == '1' || nav.globalPrivacyControl);
  let consent: ConsentState;
  let started = false;
  const readConsent = (): void => {
    let wix: WixPolicy | undefined;
    try {
      wix = w.consentPolicyManager.getCurrentConsentPolicy();
    } catch {
      /* not a Wix site, or the consent manager is not ready yet */
    }
    consent = dnt ? 'denied' : consentState(explicit, wix, !!cfg.requireConsent);
    if (consent == 'denied') {
      tr.clear();
      save(SESSION_KEY, null);
    }
    if (!started && !d.prerendering && allowed(consent)) start();
  };

  // ---- events ----------------------------------------------------------------------------
  let pvId = '';
  let lastPath: string | undefined;
  let lastUrl = '';
  let referrer: string | null = d.referrer || null;

  // Read once: they do not change within a page, and a click handler should do little work.
  const deviceClass = w.matchMedia?.('(pointer:coarse)').matches ? (Math.min(screen.width, screen.height) < 600 ? 'mobile' : 'tablet') : 'desktop';
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const context = (s: SessionState, now: number): Context => ({
    tracker_version: 'js-' + __VERSION__,
    site_id: cfg.site,
    page_url: location.href.split('#')[0]!,
    page_path: location.pathname,
    page_title: d.title || null,
    referrer,
    ...s.a,
    session_id: s.s,
    session_index: s.n,
    visitor_id: s.v,
    device_created_at: now,
    device_class: deviceClass,
    viewport_width: w.innerWidth,
    viewport_height: w.innerHeight,
    language: nav.language,
    timezone,
    consent_state: consent,
  });

  /** A complete event, or undefined when tracking is not allowed. Touches the session. */
  const build = <T extends EventType>(type: T, fields: Payload<T>, landing?: Attribution | null): Ev | undefined => {
    if (!started || !allowed(consent)) return;
    const now = Date.now();
    const s = touch(load<SessionState>(SESSION_KEY), now, landing || null, uuid);
    save(SESSION_KEY, s);
    return { event_type: type, event_id: uuid(), page_view_id: pvId, ...fields, context: context(s, now) } as unknown as Ev;
  };

  /** Queue an event (or forward it to the parent page in an embedded iframe); true when it was. */
  const emit = <T extends EventType>(type: T, fields: Payload<T>, urgent?: 0 | 1, landing?: Attribution | null): boolean => {
    if (__BRIDGE__ && cfg.frame) {
      parent.postMessage({ aa: { event_type: type, event_id: uuid(), ...fields } }, '*');
      return true;
    }
    const ev = build(type, fields, landing);
    if (ev) tr.add(ev, urgent);
    return !!ev;
  };

  // ---- page views ------------------------------------------------------------------------
  const pageView = (type: NavigationType, wixPageId?: string | null, force?: 0 | 1): void => {
    const path = location.pathname;
    const url = location.href.split('#')[0]!;
    if (type == 'spa') {
      if (path == lastPath && !force) return void (lastUrl = url);
      referrer = lastUrl;
    }
    lastPath = path;
    lastUrl = url;
    pvId = uuid();
    if (__IMPRESSIONS__) resetImpressions();
    emit('page_view', { page_view_id: pvId, navigation_type: type, wix_page_id: wixPageId || null }, 0, attribution(location.search));
  };

  const start = (): void => {
    started = true;
    const e = performance.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined;
    pageView(e && e.activationStart > 0 ? 'prerender' : (e?.type as NavigationType) || 'unknown');
    tr.flush();
  };

  // ---- affiliate clicks --------------------------------------------------------------------
  /** When each link's last pointerdown was sent, so the click that follows is not sent again. */
  const down = new WeakMap<Element, number>();
  /** Per link: its target before the tracer rewrote it (sub-id, redirect), and what was written. */
  const hrefs = new WeakMap<Element, string[]>();
  let impressionIds: Record<string, string> = {};
  /** Chart state per chart id, from chart interactions; impressions carry it. */
  const states: Record<string, ChartState> = {};

  /** 1-based position of a product element: data-aa-position, else its index in the chart. */
  const position = (el: El | null): number =>
    el ? +(el.dataset.aaPosition || [...(closest(el, CHART) || d).querySelectorAll(PRODUCT)].indexOf(el) + 1) : 0;

  const onLink = (e: PointerEvent): void => {
    const a = closest(e, 'a[data-aa-link]') as HTMLAnchorElement | null;
    if (!a) return;
    const now = Date.now();
    const downAt = down.get(a);
    if (e.type != 'pointerdown') down.delete(a);
    if (!startsClick(e, downAt, now)) return;
    if (e.type == 'pointerdown') down.set(a, now);
    const [orig, written] = hrefs.get(a) || [];
    const href = written == a.href ? orig! : a.href; // the site may have changed the link since
    const dest = new URL(href, location.href);
    const clickId = uuid();
    const sub = a.dataset.aaSubid;
    if (sub) dest.searchParams.set(sub, clickId);
    const product = closest(a, PRODUCT);
    const chart = closest(a, CHART);
    const chartId = chart ? chart.dataset.aaChart! : null;
    const productId = (product && product.dataset.aaProduct) || '';
    const domain = dest.hostname.replace(/^www\./, '');
    const fields: Payload<'affiliate_click'> = {
      click_id: clickId,
      link_id: a.dataset.aaLink!,
      product_id: productId,
      merchant: a.dataset.aaMerchant || domain,
      position: +(a.dataset.aaPosition || position(product)),
      placement: closest(a, '[data-aa-placement]')?.dataset.aaPlacement || (chart ? 'comparison_table' : 'content'),
      chart_id: chartId,
      impression_id: impressionIds[chartId + ' ' + productId] || null,
      destination_domain: domain,
      transport: 'unknown',
    };
    let to: string | undefined;
    if (__REDIRECT__ && !cfg.frame && (cfg.redirect || a.hasAttribute('data-aa-redirect'))) {
      // The collector records the click and answers 302 to the destination: nothing to send now.
      fields.transport = 'redirect';
      const ev = build('affiliate_click', fields);
      if (!ev) return;
      ev.context.device_sent_at = now;
      const json = unescape(encodeURIComponent(JSON.stringify(ev))); // UTF-8 bytes as a binary string for btoa
      to = `${cfg.endpoint}/r?u=${encodeURIComponent(dest.href)}&e=${btoa(json).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
    } else if (emit('affiliate_click', fields, 1) && sub) to = dest.href;
    if (to) {
      a.href = to;
      hrefs.set(a, [href, a.href]);
    }
  };
  on(d, 'pointerdown', onLink, true);
  on(d, 'click', onLink, true);
  on(d, 'auxclick', onLink, true);

  // ---- product impressions -------------------------------------------------------------
  /** Once per element per page view: a new page view starts over. */
  let resetImpressions = (): void => {};
  if (__IMPRESSIONS__) {
    let seen = new WeakSet<Element>();
    let io: IntersectionObserver | undefined;
    const threshold = cfg.impressionThreshold ?? 0.5;
    const scan = (): void => d.querySelectorAll(PRODUCT).forEach((el) => io?.observe(el));
    const impression = (el: El): void => {
      const chart = closest(el, CHART);
      const chartId = chart ? chart.dataset.aaChart! : null;
      const productId = el.dataset.aaProduct!;
      const st = chartId && states[chartId];
      const id = uuid();
      if (
        emit('product_impression', {
          impression_id: id,
          chart_id: chartId,
          product_id: productId,
          position: position(el),
          chart_state: st ? { ...st, filters: { ...st.filters } } : null,
        })
      )
        impressionIds[chartId + ' ' + productId] = id;
    };
    resetImpressions = () => {
      seen = new WeakSet();
      impressionIds = {};
      io?.disconnect();
      io = new IntersectionObserver(
        (entries) => {
          for (const en of entries)
            if (en.isIntersecting && en.intersectionRatio >= threshold - 0.01 && !seen.has(en.target))
              seen.add(en.target), impression(en.target as El);
        },
        { threshold },
      );
      scan();
    };
    new MutationObserver(scan).observe(d.documentElement, { childList: true, subtree: true });
    if (cfg.frame) resetImpressions();
  }

  // ---- chart interactions ------------------------------------------------------------------
  let chart: (...a: [...Parameters<Api['chart']>, number?]) => void = () => {};
  if (__CHARTS__) {
    // The action is not checked here: the collector dead-letters an unknown one (schema enum).
    chart = (chartId, action, x = {}, settle?: number) => {
      const field = x.field || null;
      const value = x.value || null;
      const st = (states[chartId] ||= { sort_field: null, sort_direction: null, filters: {}, page: null });
      if (action == 'sort') (st.sort_field = field), (st.sort_direction = value);
      if (action == 'filter' && field) value ? (st.filters[field] = value) : delete st.filters[field];
      if (action == 'paginate') st.page = +value! || null;
      // The state changes now, so rows rendered by this action carry it in their impressions; the
      // visible products are read once the chart has re-rendered.
      const send = (): void => {
        const root = d.querySelector<El>(`[data-aa-chart="${CSS.escape(chartId)}"]`);
        const shown = root ? [...root.querySelectorAll<El>(PRODUCT)].filter((el) => el.getClientRects().length) : [];
        emit('chart_interaction', {
          chart_id: chartId,
          action,
          field,
          value,
          result_count: x.resultCount ?? (root ? +(root.dataset.aaResults || shown.length) : null),
          visible_product_order: x.order || shown.map((el) => el.dataset.aaProduct!),
        });
      };
      settle ? setTimeout(send, settle) : send();
    };
    // Buttons and links act on click, form controls on change. Capture phase: the attributes are
    // read before the site's own handler changes them (e.g. expand → collapse).
    const onAction = (e: Event): void => {
      const el = closest(e, '[data-aa-action]');
      const root = closest(el, CHART);
      if (!el || !root) return;
      const ctl = el.matches('input,select,textarea');
      if ((e.type == 'change') != ctl) return;
      const input = el as HTMLInputElement;
      const value = ctl ? (input.type == 'checkbox' && !input.checked ? '' : input.value) : el.dataset.aaValue;
      chart(root.dataset.aaChart!, el.dataset.aaAction as ChartAction, { field: el.dataset.aaField, value }, SETTLE_MS);
    };
    on(d, 'click', onAction, true);
    on(d, 'change', onAction, true);
  }

  // ---- iframe bridge: events from embedded chart iframes get this page's session ----------
  if (__BRIDGE__ && !cfg.frame)
    on(w, 'message', (e: MessageEvent) => {
      const x = e.data && e.data.aa;
      for (let i = 0; x && i < w.frames.length; i++)
        if (w.frames[i] == e.source && /^(chart_interaction|product_impression|affiliate_click)$/.test(x.event_type))
          emit(x.event_type, x, x.event_type == 'affiliate_click' ? 1 : 0);
    });

  // ---- lifecycle ---------------------------------------------------------------------------
  if (!cfg.frame) {
    const push = history.pushState;
    try {
      history.pushState = function (this: History, ...a: Parameters<History['pushState']>) {
        push.apply(this, a);
        pageView('spa');
      };
    } catch {
      /* history locked down (Wix frontend security): Wix PageView events and popstate remain */
    }
    on(w, 'popstate', () => pageView('spa'));
    on(w, 'pageshow', (e: PageTransitionEvent) => e.persisted && pageView('bfcache_restore', null, 1));
    on(d, 'visibilitychange', () => d.visibilityState == 'hidden' && tr.flush(1));
    on(w, 'pagehide', () => tr.flush(2));
    on(d, 'consentPolicyChanged', readConsent);
    on(d, 'consentPolicyManagerReady', readConsent);
    on(d, 'prerenderingchange', readConsent);
    if (__WIX__) {
      const register = (): void => {
        try {
          w.wixDevelopersAnalytics.register('aa', (name: string, data: Any) => name == 'PageView' && pageView('spa', data && data.pageId));
        } catch {
          /* not on Wix */
        }
      };
      w.wixDevelopersAnalytics ? register() : on(w, 'wixDevelopersAnalyticsReady', register);
    }
    readConsent();
  }

  return {
    chart: (id, action, x) => chart(id, action, x),
    page: (wixPageId) => pageView('spa', wixPageId, 1),
    consent(granted) {
      explicit = granted;
      readConsent();
    },
    flush: () => tr.flush(),
  };
}
