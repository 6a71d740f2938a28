// IAM's wildcard matching, for Action, Resource, StringLike and ArnLike: `*` matches any run of characters
// (including none, and across "/" and ":"), `?` exactly one; everything else is literal.

/** Does `value` match `pattern`? Iterative with backtracking to the last `*`: linear in practice, never exponential. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  let pi = 0;
  let vi = 0;
  let star = -1;
  let resume = 0;
  while (vi < v.length) {
    if (pi < p.length && p[pi] === "*") {
      star = pi++;
      resume = vi;
    } else if (pi < p.length && (p[pi] === "?" || p[pi] === v[vi])) {
      pi++;
      vi++;
    } else if (star >= 0) {
      pi = star + 1;
      vi = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}
