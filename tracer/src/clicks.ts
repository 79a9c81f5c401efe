// Which pointer events of an affiliate link send a click, pure.
//
// A mouse or pen activation is sent at pointerdown, the earliest moment, and the click that
// follows is the same activation (same click id), so it is not sent again. Touch waits for the
// click: a finger going down on a link is often the start of a scroll. Keyboard activation and
// programmatic clicks have no pointerdown and are sent at click. Right button: no navigation.

/** A click within this long after a pointerdown on the same link belongs to it. */
export const DEDUP_MS = 10000;

export interface PointerLike {
  type: string;
  button: number;
  pointerType?: string;
}

/** True when this event starts a new affiliate click; `downAt` is the time of a pending pointerdown on the same link. */
export function startsClick(e: PointerLike, downAt: number | undefined, now: number): boolean {
  if (e.type == 'pointerdown') return e.pointerType != 'touch' && e.button < 2;
  if (e.type == 'auxclick' && e.button != 1) return false;
  return !(downAt != null && now - downAt < DEDUP_MS);
}
