#!/usr/bin/env bash
# Regenerates src/compiler/syscalls.ts from the kernel's uapi header (package linux-libc-dev).
set -euo pipefail
h=/usr/include/x86_64-linux-gnu/asm/unistd_64.h
out=$(dirname "$0")/../src/compiler/syscalls.ts
{
  echo '// x86_64 system call numbers (from asm/unistd_64.h), for syscall::*: probes on raw_syscalls.'
  echo '// Generated; regenerate with scripts/gen-syscalls.sh.'
  echo 'export const SYSCALLS_X86_64: readonly (readonly [string, number])[] = ['
  grep -E '^#define __NR_[a-z0-9_]+ [0-9]+' "$h" | awk '{sub("__NR_","",$2); printf "  [\"%s\", %s],\n", $2, $3}'
  echo '];'
} > "$out"
