// Consent resolution, pure.
import type { ConsentState } from './types';

/** Wix consent policy as returned by `consentPolicyManager.getCurrentConsentPolicy()`. */
export interface WixPolicy {
  policy?: { analytics?: boolean };
}

/**
 * Consent state from, in order of precedence: the site's explicit `aa.consent()` call, the Wix
 * consent policy, and the site's configuration (required or not).
 */
export function consentState(explicit: boolean | undefined, wix: WixPolicy | null | undefined, required: boolean): ConsentState {
  if (explicit != null) return explicit ? 'granted' : 'denied';
  if (wix && wix.policy) return wix.policy.analytics ? 'granted' : 'denied';
  return required ? 'unknown' : 'not_required';
}

/** Whether events may be created, stored and sent. */
export const allowed = (s: ConsentState): boolean => s == 'granted' || s == 'not_required';
