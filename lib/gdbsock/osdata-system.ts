/**
 * `info os sockets`, `info os modules` and `info os cpus`: the machine's
 * internet sockets (/proc/net/{tcp,udp,tcp6,udp6}), kernel modules
 * (/proc/modules) and processors (/proc/cpuinfo), with gdbserver's columns
 * and spellings (numeric addresses as getnameinfo writes them).
 */
import fs from 'node:fs';
import { type Row, procTableLines, userNames } from './osdata-table';

// include/net/tcp_states.h, 1 to 11.
const TCP_STATES = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

/** TCP then UDP, IPv4 then IPv6, as gdbserver lists them. */
export function sockets(): Row[] {
  const users = userNames();
  const rows: Row[] = [];
  for (const [file, family, protocol] of [
    ['tcp', 'INET', 'STREAM'],
    ['udp', 'INET', 'DGRAM'],
    ['tcp6', 'INET6', 'STREAM'],
    ['udp6', 'INET6', 'DGRAM'],
  ] as const) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
    for (const fields of procTableLines(`/proc/net/${file}`)) {
      const [local, remote, state, , , , uid] = fields.slice(1);
      const l = local?.split(':');
      const r = remote?.split(':');
      if (l?.length !== 2 || r?.length !== 2 || state === undefined || uid === undefined) continue;
      const address = family === 'INET' ? ipv4 : ipv6;
      rows.push([
        ['local address', address(l[0]!)],
        ['local port', Number.parseInt(l[1]!, 16)],
        ['remote address', address(r[0]!)],
        ['remote port', Number.parseInt(r[1]!, 16)],
        ['state', TCP_STATES[Number.parseInt(state, 16) - 1] ?? '(unknown)'],
        ['user', users.get(Number(uid)) ?? ''],
        ['family', family],
        ['protocol', protocol],
      ]);
    }
  }
  return rows;
}

/** /proc/net's IPv4 address: the 32-bit word in host (little-endian) order. */
function ipv4(hex: string): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(Number.parseInt(hex, 16));
  return [...b].join('.');
}

/** /proc/net's IPv6 address: four 32-bit words, each in host order; written as inet_ntop does (RFC 5952, an IPv4 tail for mapped and compatible addresses). */
function ipv6(hex: string): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32LE(Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16), i * 4);
  const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  // The longest run of two or more zero words becomes "::" (the first of equal runs).
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  if (best.length < 2) best = { start: -1, length: 0 };
  const tail4 = best.start === 0 && (best.length === 6 || (best.length === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best.start) {
      out += ':';
      i += best.length - 1;
      if (i === 7) out += ':';
      continue;
    }
    if (tail4 && i === 6) {
      out += `${out.endsWith(':') ? '' : ':'}${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    out += `${i > 0 ? ':' : ''}${words[i]!.toString(16)}`;
  }
  return out;
}

/** /proc/modules: name size uses dependencies status address; absent without module support (then no rows). */
export function modules(): Row[] {
  const rows: Row[] = [];
  for (const fields of procTableLines('/proc/modules', false)) {
    const [name, size, uses, dependencies, status, address] = fields;
    if (address === undefined || !/^\d+$/.test(size!) || !/^-?\d+$/.test(uses!)) continue;
    rows.push([
      ['name', name!],
      ['size', Number(size)],
      ['num uses', Number(uses)],
      ['dependencies', dependencies!],
      ['status', status!],
      ['address', BigInt(address.startsWith('0x') ? address : `0x${address}`).toString(16)],
    ]);
  }
  return rows;
}

/**
 * /proc/cpuinfo: one item per processor, one column per "key: value" line.
 * As gdbserver: the key ends at its first tab, the value runs from the first
 * colon to the next colon or tab, leading space and newline kept.
 */
export function cpus(): Row[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return [];
  }
  const rows: Row[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).split('\t')[0]!;
    let rest = line.slice(colon + 1);
    while (rest.startsWith(':')) rest = rest.slice(1);
    const value = rest.split(/[:\t]/)[0]!;
    if (!value) continue;
    if (key === 'processor') rows.push([]);
    rows[rows.length - 1]?.push([key, value]);
  }
  return rows;
}
