/**
 * Text made safe for an HTML page: every name, subject, message and error on the farm page comes
 * from the journal, and much of it from strangers (a commit's subject, a push's message). Escaped
 * for text and for a double-quoted attribute value alike.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 2026-11-24 05:22:08 UTC: a page is read long after it is written, so never "ago"; a time that is none is shown as it is. */
export function utcTime(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A <time> element: the machine's ISO time in its attribute, the reader's in its text. */
export function timeElement(iso: string | null): string {
  if (iso === null) return '-';
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(utcTime(iso))}</time>`;
}
