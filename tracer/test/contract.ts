// The collector contract: captured tracer payloads are checked against ../schemas/*.avsc the way
// the collector reads them (server context fields added, Avro defaults for omitted nullable fields).
import avro from 'avsc';
import { readFileSync } from 'node:fs';

const SERVER_FIELDS = ['collector_received_at', 'geo_country', 'geo_region', 'geo_city', 'ip_hash', 'user_agent'];
const TYPES = ['page_view', 'chart_interaction', 'product_impression', 'affiliate_click'] as const;

const schemas = Object.fromEntries(
  TYPES.map((t) => [t, avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../schemas/${t}.avsc`, import.meta.url), 'utf8')))]),
) as Record<string, avro.Type>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** Apply Avro field defaults to omitted fields, recursively (as the collector does). */
function withDefaults(type: Any, value: Any): Any {
  if (type.typeName == 'record') {
    if (value == null || typeof value != 'object') return value;
    const out: Record<string, unknown> = { ...value };
    for (const f of type.fields) out[f.name] = withDefaults(f.type, value[f.name] === undefined ? f.defaultValue() : value[f.name]);
    return out;
  }
  if (String(type.typeName).startsWith('union') && value != null) {
    const rec = type.types.find((t: Any) => t.typeName == 'record');
    return rec ? withDefaults(rec, value) : value;
  }
  return value;
}

/** Problems of one wire event against its Avro contract; empty when it is valid. */
export function contractErrors(ev: Any): string[] {
  const errors: string[] = [];
  const type = schemas[ev?.event_type];
  if (!type) return [`unknown event_type ${ev?.event_type}`];
  for (const f of SERVER_FIELDS) if (ev.context && f in ev.context) errors.push(`tracer sent server field context.${f}`);
  if (typeof ev.context?.device_sent_at != 'number') errors.push('context.device_sent_at missing');
  const { event_type: _, ...rest } = ev;
  const record = withDefaults(type, { ...rest, context: { ...rest.context, collector_received_at: Date.now() } });
  type.isValid(record, {
    noUndeclaredFields: true,
    errorHook: (path: string[], val: unknown) => errors.push(`${ev.event_type}.${path.join('.')}: invalid value ${JSON.stringify(val)}`),
  });
  return errors;
}
