#!/usr/bin/env bash
# Regenerates src/compiler/syscalls.ts from the kernel's uapi header (package linux-libc-dev).
set -euo pipefail
h=/usr/include/x86_64-linux-gnu/asm/unistd_64.h
out=$(dirname "$0")/../src/platform/syscalls.ts
{
  echo '// x86_64 system call numbers (from asm/unistd_64.h): the compiler filters syscall::*:'
  echo '// probes by number, the runner shows numbers as names. Pure data, shared by both.'
  echo '// The table is generated; regenerate with scripts/gen-syscalls.sh.'
  echo 'export const SYSCALLS_X86_64: readonly (readonly [string, number])[] = ['
  {
    grep -E '^#define __NR_[a-z0-9_]+ [0-9]+' "$h" | awk '{sub("__NR_","",$2); print $2, $3}'
    # Newer than Debian 12's headers (Linux 6.6 .. 6.16); skipped where the header has them.
    printf '%s\n' 'cachestat 451' 'fchmodat2 452' 'map_shadow_stack 453' 'futex_wake 454' 'futex_wait 455' \
      'futex_requeue 456' 'statmount 457' 'listmount 458' 'lsm_get_self_attr 459' 'lsm_set_self_attr 460' \
      'lsm_list_modules 461' 'mseal 462' 'setxattrat 463' 'getxattrat 464' 'listxattrat 465' \
      'removexattrat 466' 'open_tree_attr 467'
  } | awk '!seen[$2]++ { printf "  [\"%s\", %s],\n", $1, $2 }'
  echo '];'
  echo
  echo 'const BY_NUMBER = new Map(SYSCALLS_X86_64.map(([name, nr]) => [nr, name]));'
  echo
  echo "/** The name of system call \`nr\`, or 'syscall_N' for a number this table does not know. */"
  echo 'export function syscallName(nr: number): string {'
  echo '  return BY_NUMBER.get(nr) ?? `syscall_${nr}`;'
  echo '}'
} > "$out"
