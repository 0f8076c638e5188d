/** Shell-style globs for rules and redaction lists: `*`, `**`, `?` and `[...]`, anchored at both ends. */

export interface GlobOptions {
  /** True (paths): `*` and `?` do not match '/', `**` does. False: `*` matches anything. */
  slash: boolean;
}

export function globMatcher(glob: string, options: GlobOptions = { slash: true }): (s: string) => boolean {
  let re = '^';
  const any = options.slash ? '[^/]' : '[\\s\\S]';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '[\\s\\S]*';
        i++;
      } else re += `${any}*`;
    } else if (c === '?') re += any;
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const regex = new RegExp(`${re}$`);
  return (s) => regex.test(s);
}
