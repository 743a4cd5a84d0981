/** How many recent `scheme://authority` prefixes keep their origin: a client talks to few hosts at a time. */
const recentSize = 8;
const recentPrefixes: string[] = [];
const recentOrigins: string[] = [];
let nextSlot = 0;
/** The last URL asked about, whole: an undici dispatch gives the same origin string request after request. */
let lastUrl: string | undefined;
let lastOrigin = '';

/**
 * The origin of an absolute URL, as `new URL(url).origin` gives it, throwing the same TypeError for an invalid
 * one. A whole parse costs a microsecond; for `http://` and `https://` URLs only the part up to the end of the
 * authority decides the origin (and whether the URL is valid: the path, query and fragment of such URLs always
 * parse), so that part alone is parsed, once per recent host.
 */
export function urlOrigin(url: string): string {
  if (url === lastUrl) return lastOrigin;
  const origin = recentOrigin(url);
  lastUrl = url;
  lastOrigin = origin;
  return origin;
}

function recentOrigin(url: string): string {
  for (let i = 0; i < recentPrefixes.length; i++) {
    const prefix = recentPrefixes[i]!;
    if (url.startsWith(prefix) && endsAuthority(url, prefix.length)) return recentOrigins[i]!;
  }
  const start = url.startsWith('https://') ? 8 : url.startsWith('http://') ? 7 : 0;
  if (start === 0) return new URL(url).origin;
  let end = start;
  while (!endsAuthority(url, end)) end++;
  // Left to the whole parse: an empty authority, which the parser may find past more slashes (`http:///host`),
  // and one that ends in a space or control character, which the parser would strip from the end of the part
  // but not from the middle of the URL.
  if (end === start || url.charCodeAt(end - 1) <= 32) return new URL(url).origin;
  const prefix = url.slice(0, end);
  let origin: string;
  try {
    origin = new URL(prefix).origin;
  } catch {
    return new URL(url).origin; // throws the error of the whole URL, as the caller would get it
  }
  recentPrefixes[nextSlot] = prefix;
  recentOrigins[nextSlot] = origin;
  nextSlot = (nextSlot + 1) % recentSize;
  return origin;
}

/** Whether the authority of a special URL ends at `index`: its end, `/`, `?`, `#` or `\`. */
function endsAuthority(url: string, index: number): boolean {
  if (index >= url.length) return true;
  const code = url.charCodeAt(index);
  return code === 47 || code === 63 || code === 35 || code === 92;
}
