import { describe, expect, it } from 'vitest';
import { DEDUP_MS, startsClick } from '../../src/clicks';

describe('affiliate click dedup', () => {
  it('sends a mouse or pen activation at pointerdown and not again at the click that follows', () => {
    expect(startsClick({ type: 'pointerdown', button: 0, pointerType: 'mouse' }, undefined, 0)).toBe(true);
    expect(startsClick({ type: 'click', button: 0 }, 0, 120)).toBe(false);
    expect(startsClick({ type: 'pointerdown', button: 1, pointerType: 'mouse' }, undefined, 0)).toBe(true);
    expect(startsClick({ type: 'auxclick', button: 1 }, 0, 90)).toBe(false);
  });

  it('waits for the click on touch, where pointerdown may start a scroll', () => {
    expect(startsClick({ type: 'pointerdown', button: 0, pointerType: 'touch' }, undefined, 0)).toBe(false);
    expect(startsClick({ type: 'click', button: 0 }, undefined, 300)).toBe(true);
  });

  it('sends keyboard and programmatic clicks, which have no pointerdown', () => {
    expect(startsClick({ type: 'click', button: 0 }, undefined, 5)).toBe(true);
  });

  it('treats a click long after a pointerdown as a new activation', () => {
    expect(startsClick({ type: 'click', button: 0 }, 0, DEDUP_MS + 1)).toBe(true);
  });

  it('ignores the right button, which opens a menu instead of navigating', () => {
    expect(startsClick({ type: 'pointerdown', button: 2, pointerType: 'mouse' }, undefined, 0)).toBe(false);
    expect(startsClick({ type: 'auxclick', button: 2 }, undefined, 0)).toBe(false);
  });
});
