#!/usr/bin/env node
import { runUsageOnly } from '../usage';

const USAGE = `usage: gdbsock [options] <pid>
       gdbsock [options] -- <program> [args...]

Serve the GDB remote protocol for a Linux process, so a stock gdb can debug it:
attach to <pid> (every thread), or launch <program> stopped at its first instruction.

options:
  --listen HOST:PORT   serve over TCP (default host 127.0.0.1) instead of a unix socket
  --stdio              speak on stdin/stdout:  gdb -ex 'target remote | gdbsock --stdio <pid>'
  --once               exit after the first connection closes
  -h, --help           show this help

By default the socket is $XDG_RUNTIME_DIR/gdbsock/<pid>.sock (/run/gdbsock/<pid>.sock for root).
`;

runUsageOnly(USAGE, process.argv.slice(2));
