// Semantic checks. Returns a side table of types and symbols plus diagnostics; never
// mutates or rewrites the AST (DTrace's "cooking" without allocation). Every error a
// pass finds is reported, not only the first.

import type { AggRef, Assign, Call, Clause, Expr, Program, Stmt } from '../lang/ast.js';
import { Codes, error, suggest, warning, type Diagnostic } from '../lang/diagnostics.js';
import type { Source, Span } from '../lang/source.js';
import { SYSCALLS_X86_64 } from '../platform/syscalls.js';
import { AGG_ALIASES, BUILTIN_VARS, FUNCTIONS, INT_TYPES, KNOWN_OPTIONS, TIME_UNIT_NS, UNAVAILABLE, type Type } from './builtins.js';
import type { Facts } from './facts.js';
import type { AggFunc } from './program.js';
import { resolveProbe, syscallNumber, syscallNumberFunc, type ResolvedProbe } from './probes.js';
import { lineVarType } from './lines.js';

export interface AggSymbol {
  readonly name: string;
  readonly func: AggFunc;
  readonly keyTypes: Type[];
  readonly keyLabels: string[];
  /** Constant arguments after the value (lquantize bounds, llquantize parameters). */
  readonly params: bigint[];
  /** The aggregating call as written, for the value column's header. */
  readonly valueLabel: string;
  readonly span: Span;
}

export interface VarSymbol {
  type: Type;
  readonly keyed: boolean;
  readonly span: Span;
}

export interface ClauseInfo {
  readonly clause: Clause;
  readonly probes: ResolvedProbe[];
}

export interface Analysis {
  readonly types: Map<Expr, Type>;
  readonly aggs: Map<string, AggSymbol>;
  /** `@x = value` / `@x[k] = value`: bpftrace maps used as variables. */
  readonly plainMaps: Map<string, VarSymbol>;
  readonly selfVars: Map<string, VarSymbol>;
  readonly globals: Map<string, VarSymbol>;
  readonly clauses: ClauseInfo[];
  readonly options: Map<string, string>;
  readonly expectations: { text: string; span: Span }[];
  readonly diagnostics: Diagnostic[];
}

const SYSCALL_NAMES = SYSCALLS_X86_64.map(([n]) => n);

const compatible = (a: Type, b: Type): boolean =>
  a === 'unknown' || b === 'unknown' || a === b || ((a === 'int' || a === 'ptr') && (b === 'int' || b === 'ptr'));

const isAggCall = (e: Expr): e is Call => e.kind === 'Call' && FUNCTIONS[e.callee]?.kind === 'aggregating';

export function check(program: Program, source: Source, facts: Facts): Analysis {
  const a: Analysis = {
    types: new Map(),
    aggs: new Map(),
    plainMaps: new Map(),
    selfVars: new Map(),
    globals: new Map(),
    clauses: [],
    options: new Map(),
    expectations: [],
    diagnostics: [],
  };
  const diag = (d: Diagnostic) => a.diagnostics.push(d);
  const aggNames = collectAggNames(program);

  // Pragmas.
  for (const item of program.items) {
    if (item.kind !== 'Pragma') continue;
    if (item.namespace === 'D' && item.directive === 'option') {
      const m = /^([A-Za-z_]+)(?:\s*=\s*(\S+))?$/.exec(item.argument);
      if (!m) {
        diag(error(Codes.BadPragma, 'expected an option: #pragma D option NAME[=VALUE]', item.argumentSpan));
        continue;
      }
      const name = m[1]!;
      if (!KNOWN_OPTIONS.includes(name)) {
        const near = suggest(name, KNOWN_OPTIONS);
        diag(error(Codes.UnknownOption, `unknown option '${name}'`, item.argumentSpan, near ? [`did you mean ${near}?`] : undefined));
        continue;
      }
      a.options.set(name, m[2] ?? '');
    } else if (item.namespace === 'ctrace' && item.directive === 'expect') {
      a.expectations.push({ text: item.argument, span: item.argumentSpan });
    } else if (item.namespace === 'D' && (item.directive === 'binding' || item.directive === 'depends_on')) {
      // Accepted for compatibility with DTrace library files; meaningless here.
    } else {
      diag(error(Codes.BadPragma, `unknown pragma '#pragma ${item.namespace} ${item.directive}'`, item.span, ['supported: #pragma D option NAME[=VALUE], #pragma ctrace expect EXPR']));
    }
  }
  const destructive = facts.destructive || a.options.has('destructive');
  // DTrace's defaultargs: a missing $N is 0 ($$N and in probe names: empty), not an error.
  const defaultArgs = a.options.has('defaultargs');

  const clauses = program.items.filter((i): i is Clause => i.kind === 'Clause');

  // Pre-pass: which names are ever written, so reads can be checked in any clause order
  // (clauses fire in whatever order the events come).
  const selfWritten = new Set<string>();
  const globalWritten = new Set<string>();
  for (const c of clauses) {
    const visit = (stmts: readonly Stmt[]) =>
      forEachExpr(stmts, (e) => {
        const t = e.kind === 'Assign' ? e.target : e.kind === 'Update' ? e.target : null;
        if (!t) return;
        if (t.kind === 'SelfVar') selfWritten.add(t.name);
        if (t.kind === 'Ident' && !BUILTIN_VARS[t.name]) globalWritten.add(t.name);
        if (t.kind === 'Index' && t.object.kind === 'Ident' && !BUILTIN_VARS[t.object.name]) globalWritten.add(t.object.name);
      });
    visit(c.body);
  }

  for (const clause of clauses) {
    const probes: ResolvedProbe[] = [];
    for (const p of clause.probes) {
      const r = resolveProbe(p, facts, { defaultArgs });
      a.diagnostics.push(...r.diagnostics);
      if (r.probe) probes.push(r.probe);
    }
    a.clauses.push({ clause, probes });
    const thisWritten = new Set<string>();
    // In syscall::*: probes probefunc is the system call's number: BPF cannot name it (the
    // runner shows it as a name in keys), so it is an integer here.
    const numericFunc = probes.some(syscallNumberFunc);
    const isNumericFunc = (e: Expr) => numericFunc && e.kind === 'Ident' && (e.name === 'probefunc' || e.name === 'func');

    const setType = (e: Expr, t: Type): Type => {
      a.types.set(e, t);
      return t;
    };

    const expr = (e: Expr): Type => {
      switch (e.kind) {
        case 'Int':
          return setType(e, 'int');
        case 'Str':
          return setType(e, 'string');
        case 'ScriptArg': {
          if (e.index === 0) return setType(e, 'string');
          const v = facts.scriptArgs[e.index - 1];
          if (v === undefined && defaultArgs) return setType(e, e.quoted ? 'string' : 'int');
          if (v === undefined) {
            diag(error(Codes.ScriptArgMissing, `$${e.quoted ? '$' : ''}${e.index} is used but ${facts.scriptArgs.length === 0 ? 'no arguments were' : `only ${facts.scriptArgs.length} argument${facts.scriptArgs.length === 1 ? ' was' : 's were'}`} given`, e.span, ['pass script arguments after the program: trace script.d ARG1 ARG2']));
            return setType(e, e.quoted ? 'string' : 'unknown');
          }
          return setType(e, e.quoted || !/^-?(0x[0-9a-fA-F]+|\d+)$/.test(v) ? 'string' : 'int');
        }
        case 'MacroVar':
          if (e.name === 'target') {
            if (!facts.target) diag(error(Codes.NeedsTarget, '$target needs a target: trace a container with -c NAME or a process with -p PID', e.span));
            return setType(e, 'int');
          }
          diag(error(Codes.UnknownVariable, `unknown macro variable $${e.name}`, e.span, ['$target (the traced process) and $1..$9 (script arguments) are supported']));
          return setType(e, 'unknown');
        case 'Ident':
          return setType(e, isNumericFunc(e) ? (contextCheck(e.name, e.span), 'int') : identType(e.name, e.span));
        case 'SelfVar': {
          if (!selfWritten.has(e.name)) {
            diag(error(Codes.SelfReadBeforeWrite, `self->${e.name} is read but never assigned`, e.span, [
              suggest(e.name, selfWritten) ? `did you mean self->${suggest(e.name, selfWritten)}?` : `assign it in an earlier probe, e.g. self->${e.name} = timestamp;`,
            ]));
          }
          return setType(e, a.selfVars.get(e.name)?.type ?? 'unknown');
        }
        case 'ThisVar': {
          if (!thisWritten.has(e.name)) {
            diag(error(Codes.ThisReadBeforeWrite, `this->${e.name} is read before it is assigned in this clause`, e.span, ['this-> variables live for one clause: assign it first in the same clause']));
          }
          return setType(e, thisTypes.get(e.name) ?? 'unknown');
        }
        case 'Agg': {
          const plain = a.plainMaps.get(e.name);
          if (plain || !aggNames.has(e.name)) {
            for (const k of e.keys ?? []) expr(k);
            return setType(e, plain?.type ?? 'int');
          }
          diag(error(Codes.AggregationAsValue, `the aggregation @${e.name} cannot be used as a value`, e.span, ['aggregations are only printed (printa) or assigned an aggregating function; keep the value in a variable too if you need it']));
          for (const k of e.keys ?? []) expr(k);
          return setType(e, 'unknown');
        }
        case 'Index': {
          for (const i of e.index) expr(i);
          if (e.object.kind === 'Ident' && e.object.name === 'args') {
            a.types.set(e.object, 'unknown');
            return setType(e, argType(e.index[0], e.span));
          }
          if (e.object.kind === 'Ident' && !BUILTIN_VARS[e.object.name]) {
            const g = a.globals.get(e.object.name);
            if (!globalWritten.has(e.object.name)) {
              diag(error(Codes.UnknownVariable, `'${e.object.name}' is read but never assigned`, e.object.span));
            }
            a.types.set(e.object, 'unknown');
            return setType(e, g?.type ?? 'unknown');
          }
          expr(e.object);
          return setType(e, 'unknown');
        }
        case 'Member': {
          if (e.object.kind === 'Ident' && (e.object.name === 'locals' || (e.object.name === 'args' && probes.some((p) => p.args.kind === 'go-line')))) {
            a.types.set(e.object, 'unknown');
            const scope = e.object.name;
            let t: Type = 'unknown';
            for (const p of probes) {
              if (p.args.kind !== 'go-line') {
                diag(error(Codes.NotInContext, `${scope}.${e.property} is only defined in source-line probes, such as uprobe:main.go:75`, e.span));
                return setType(e, 'unknown');
              }
              const r = lineVarType(p.args.vars, p.args.where, scope === 'args', e.property, e.propertySpan);
              if (r.diagnostic) {
                diag(r.diagnostic);
                return setType(e, 'unknown');
              }
              t = r.type;
            }
            return setType(e, t);
          }
          if (e.object.kind === 'Ident' && e.object.name === 'args') {
            a.types.set(e.object, 'unknown');
            const goParams = probes.flatMap((p) => (p.args.kind === 'go-regs' && p.args.params ? [p.args.params] : []));
            if (goParams.length) {
              const found = goParams.map((ps) => ps.find((x) => x.name === e.property));
              const missing = found.findIndex((x) => !x);
              if (missing >= 0) {
                const names = goParams[missing]!.map((x) => x.name);
                diag(error(Codes.BadArgument, `this function has no parameter '${e.property}'${names.length ? ` (it has ${names.join(', ')})` : ''}`, e.propertySpan, suggest(e.property, names) ? [`did you mean args.${suggest(e.property, names)}?`] : undefined));
                return setType(e, 'unknown');
              }
              const p0 = found[0]!;
              if (p0.kind === 'other' || p0.reg < 0) {
                diag(error(Codes.Unsupported, `parameter '${e.property}' (${p0.goType}) cannot be read: only integers, pointers, bools and strings in registers are`, e.propertySpan));
              }
              return setType(e, p0.kind === 'string' ? 'string' : 'int');
            }
            const argCtx = probes.map((p) => p.args.kind);
            if (argCtx.length && argCtx.every((k) => k === 'none' || k === 'regs' || k === 'go-regs' || k === 'go-return' || k === 'return')) {
              diag(error(Codes.NotInContext, `args->${e.property} has no meaning for this probe: it has no named arguments`, e.span, argCtx.includes('go-regs') ? ['named Go arguments need the binary\'s DWARF; use arg0..arg8'] : ['use arg0..arg9']));
            }
            return setType(e, 'unknown');
          }
          expr(e.object);
          return setType(e, 'unknown');
        }
        case 'Call':
          return setType(e, call(e, false));
        case 'Unary': {
          const t = expr(e.operand);
          if ((e.op === '-' || e.op === '+' || e.op === '~' || e.op === '!') && !compatible(t, 'int')) {
            diag(error(Codes.TypeMismatch, `operator '${e.op}' needs an integer, but this is ${an(t)}`, e.operand.span));
          }
          if (e.op === '&') diag(error(Codes.Unsupported, "the address-of operator '&' is not supported", e.span));
          return setType(e, e.op === '*' ? 'unknown' : 'int');
        }
        case 'Update': {
          assignTarget(e.target, 'int', e.span);
          return setType(e, 'int');
        }
        case 'Binary': {
          const l = expr(e.left);
          const r = expr(e.right);
          if (e.op === '==' || e.op === '!=') {
            // probefunc == "read" in a syscall::*: probe compares numbers (lower.ts).
            const name = isNumericFunc(e.left) && e.right.kind === 'Str' ? e.right : isNumericFunc(e.right) && e.left.kind === 'Str' ? e.left : null;
            if (name) {
              if (syscallNumber(name.value) === undefined) {
                const near = suggest(name.value, SYSCALL_NAMES);
                diag(error(Codes.UnknownSyscall, `unknown system call '${name.value}'`, name.span, near ? [`did you mean ${near}?`] : undefined));
              }
              return setType(e, 'int');
            }
            if (!compatible(l, r)) {
              diag(error(Codes.TypeMismatch, `cannot compare ${an(l)} with ${an(r)}`, e.span, l === 'string' || r === 'string' ? ['compare strings with strings: execname == "nginx"'] : undefined));
            }
            return setType(e, 'int');
          }
          for (const [t, side] of [[l, e.left], [r, e.right]] as const) {
            if (t === 'string' || t === 'stack' || t === 'void') {
              diag(error(Codes.TypeMismatch, `operator '${e.op}' needs integers, but this is ${an(t)}`, side.span));
            }
          }
          return setType(e, 'int');
        }
        case 'Ternary': {
          expr(e.cond);
          const t1 = expr(e.then);
          const t2 = expr(e.else);
          if (!compatible(t1, t2)) diag(error(Codes.TypeMismatch, `both branches of ?: must have the same type, not ${an(t1)} and ${an(t2)}`, e.span));
          return setType(e, t1 === 'unknown' ? t2 : t1);
        }
        case 'Assign':
          return setType(e, assign(e));
        case 'Cast': {
          const t = expr(e.operand);
          const name = e.type.name;
          if (name === 'string') {
            if (e.type.pointer > 0) diag(error(Codes.TypeMismatch, 'a string cannot be a pointer', e.type.span));
            return setType(e, 'string');
          }
          if (e.type.pointer > 0) return setType(e, name.startsWith('struct ') ? 'ptr' : 'int');
          if (name.startsWith('struct ')) {
            diag(error(Codes.TypeMismatch, `cannot cast to ${name}: cast to a pointer, (${name} *)`, e.type.span));
            return setType(e, 'unknown');
          }
          if (!INT_TYPES[name]) {
            diag(error(Codes.TypeMismatch, `unknown type '${name}'`, e.type.span, suggest(name, Object.keys(INT_TYPES)) ? [`did you mean ${suggest(name, Object.keys(INT_TYPES))}?`] : undefined));
            return setType(e, 'unknown');
          }
          if (t === 'string') diag(error(Codes.TypeMismatch, `cannot cast a string to ${name}`, e.span));
          return setType(e, 'int');
        }
      }
    };

    const identType = (name: string, span: Span): Type => {
      const b = BUILTIN_VARS[name];
      if (b) {
        contextCheck(name, span);
        return b.type;
      }
      const g = a.globals.get(name);
      if (g || globalWritten.has(name)) return g?.type ?? 'unknown';
      if (FUNCTIONS[name]) {
        diag(error(Codes.UnknownBuiltin, `'${name}' is a function: call it as ${name}()`, span));
        return 'unknown';
      }
      const near = suggest(name, [...Object.keys(BUILTIN_VARS), ...globalWritten]);
      diag(error(Codes.UnknownBuiltin, `unknown builtin or variable '${name}'`, span, near ? [`did you mean '${near}'?`] : undefined));
      return 'unknown';
    };

    const contextCheck = (name: string, span: Span): void => {
      if (probes.length === 0) return;
      const kinds = probes.map((p) => p.args.kind);
      if (name === 'container' && !facts.target?.containers?.length) {
        diag(error(Codes.NotInContext, 'container is only defined when tracing containers', span, ['trace one or more containers with -c NAME']));
      }
      if (name === 'host' && facts.host === undefined) {
        diag(error(Codes.NotInContext, 'host is not known: the facts this program is compiled with name no host', span));
      }
      if (probes.length === 0) return;
      if (name === 'goid' && !kinds.every((k) => k === 'go-regs' || k === 'go-return' || k === 'go-line')) {
        diag(error(Codes.NotInContext, 'goid is only defined in probes on Go functions', span));
      }
      if (name === 'retval' && !kinds.every((k) => k === 'return' || k === 'go-return' || k === 'syscall-return' || k === 'raw-syscall-return')) {
        diag(error(Codes.NotInContext, 'retval is only defined in return probes', span, ['use a :return probe (pid$target::f:return, syscall::read:return, uretprobe:f)']));
      }
      if (name === 'errno' && !kinds.every((k) => k === 'syscall-return' || k === 'raw-syscall-return')) {
        diag(error(Codes.NotInContext, 'errno is only defined in syscall return probes', span, ['use syscall::NAME:return']));
      }
      if (name === 'arg0' && probes.some((p) => (p.args.kind === 'return' || p.args.kind === 'go-return') && p.args.dtraceStyle)) {
        diag(error(Codes.NotInContext, 'in a pid return probe arg0 is the return offset, which is not available here', span, ['the return value is arg1 (or retval)']));
      }
      const argN = /^arg(\d)$/.exec(name);
      if (argN) {
        const n = Number(argN[1]);
        for (const p of probes) {
          if (p.args.kind === 'none') diag(error(Codes.NotInContext, `${name} has no meaning in ${p.special ?? p.attach.split(':')[0]} probes`, span));
          if (p.args.kind === 'go-line') diag(error(Codes.NotInContext, `${name} has no meaning in a source-line probe`, span, ['name the variable instead: args.NAME for a parameter, locals.NAME for a local']));
          if ((p.args.kind === 'syscall-entry' || p.args.kind === 'tracepoint') && p.args.fields && n >= p.args.fields.length) {
            diag(error(Codes.NotInContext, `${name} does not exist: ${p.attach.split(':').slice(1).join(':')} has ${p.args.fields.length} argument${p.args.fields.length === 1 ? '' : 's'} (${p.args.fields.join(', ')})`, span));
          }
          if ((p.args.kind === 'go-regs' || p.args.kind === 'go-return') && n > 8) diag(error(Codes.NotInContext, `Go passes at most 9 integer arguments in registers (arg0..arg8)`, span));
          if (p.args.kind === 'raw-syscall-entry' && n > 5) diag(error(Codes.NotInContext, `system calls have at most 6 arguments (arg0..arg5)`, span));
        }
      }
    };

    const argType = (index: Expr | undefined, span: Span): Type => {
      if (!index || index.kind !== 'Int') {
        diag(error(Codes.BadArgument, 'args[] needs a constant index, e.g. args[0]', index?.span ?? span));
        return 'unknown';
      }
      contextCheck(`arg${index.value}`, span);
      return 'unknown';
    };

    const aggArgs = (c: Call): void => {
      // printa/trunc/clear/normalize/denormalize take aggregations by name.
      const args = c.args;
      let i = 0;
      if (c.callee === 'printa' && args[0]?.kind === 'Str') {
        checkFormat(args[0].value, args.length - 1, args[0].span, true);
        i = 1;
      }
      const aggCount = c.callee === 'printa' ? args.length - i : 1;
      for (let j = i; j < i + aggCount; j++) {
        const arg = args[j];
        if (!arg) continue;
        if (arg.kind !== 'Agg' || arg.keys) {
          diag(error(Codes.BadArgument, `${c.callee}() takes an aggregation name such as @lat`, arg.span));
          continue;
        }
        if (!aggNames.has(arg.name)) {
          const near = suggest(`@${arg.name}`, [...aggNames].map((n) => `@${n}`));
          diag(error(Codes.UnknownAggregation, `@${arg.name} is not an aggregation of this program`, arg.span, near ? [`did you mean ${near}?`] : undefined));
        }
      }
      for (let j = i + aggCount; j < args.length; j++) {
        const t = expr(args[j]!);
        if (!compatible(t, 'int')) diag(error(Codes.TypeMismatch, `${c.callee}() needs an integer here`, args[j]!.span));
        if ((c.callee === 'trunc' || c.callee === 'normalize') && args[j]!.kind !== 'Int') {
          diag(error(Codes.BadArgument, `${c.callee}() needs a constant here`, args[j]!.span));
        }
      }
    };

    const call = (c: Call, asAggregation: boolean): Type => {
      const fn = FUNCTIONS[c.callee];
      if (!fn) {
        for (const arg of c.args) expr(arg);
        const near = suggest(c.callee, Object.keys(FUNCTIONS));
        diag(error(Codes.UnknownFunction, `unknown function '${c.callee}'`, c.calleeSpan, near ? [`did you mean ${near}?`] : undefined));
        return 'unknown';
      }
      if (c.args.length < fn.min || c.args.length > fn.max) {
        const range = fn.min === fn.max ? `${fn.min}` : fn.max === Infinity ? `at least ${fn.min}` : `${fn.min} to ${fn.max}`;
        diag(error(Codes.WrongArity, `${c.callee}() takes ${range} argument${fn.max === 1 && fn.min === 1 ? '' : 's'}, but ${c.args.length} ${c.args.length === 1 ? 'was' : 'were'} given`, c.span, [`usage: ${fn.signature}`]));
      }
      if (UNAVAILABLE[c.callee]) {
        diag(error(Codes.Unsupported, `${c.callee}() is not available: bpftrace cannot do it in the kernel`, c.calleeSpan, [UNAVAILABLE[c.callee]!]));
      }
      if (fn.destructive && !destructive) {
        diag(error(Codes.DestructiveNotAllowed, `${c.callee}() is a destructive action and is off by default`, c.calleeSpan, ['allow it with #pragma D option destructive, or -w']));
      }
      if (fn.kind === 'aggregating') {
        if (!asAggregation) {
          diag(error(Codes.AggregationAsValue, `${c.callee}() is an aggregating function: assign it to an aggregation, @name[keys] = ${c.callee}(...)`, c.span));
        }
        c.args.forEach((arg, i) => {
          const t = expr(arg);
          if (!compatible(t, 'int')) diag(error(Codes.TypeMismatch, `${c.callee}() needs an integer ${i === 0 ? 'value' : 'parameter'}, but this is ${an(t)}`, arg.span));
          if (i > 0 && !isConstInt(arg)) diag(error(Codes.BadArgument, `${c.callee}()'s parameters must be constants`, arg.span));
        });
        if ((c.callee === 'lquantize' || c.callee === 'lhist' || c.callee === 'llquantize') && c.args.length >= fn.min && c.args.length <= fn.max) validateQuantizeParams(c);
        return 'void';
      }
      if (['printa', 'trunc', 'clear', 'zero', 'normalize', 'denormalize'].includes(c.callee)) {
        aggArgs(c);
        return 'void';
      }
      const types = c.args.map((arg) => expr(arg));
      switch (c.callee) {
        case 'printf':
        case 'system': {
          const f = c.args[0];
          if (f && f.kind !== 'Str') diag(error(Codes.BadArgument, `${c.callee}() needs a string literal as its format`, f.span));
          else if (f) checkFormat(f.value, c.args.length - 1, f.span, false, types.slice(1), c.args.slice(1));
          break;
        }
        case 'copyinstr':
        case 'str':
        case 'usym':
        case 'ksym':
          if (types[0] === 'string') diag(error(Codes.TypeMismatch, `${c.callee}() needs an address, and this is already a string`, c.args[0]!.span));
          break;
        case 'strcontains':
        case 'strncmp':
          types.slice(0, 2).forEach((t, i) => {
            if (!compatible(t, 'string')) diag(error(Codes.TypeMismatch, `${c.callee}() compares strings, but this is ${an(t)}`, c.args[i]!.span));
          });
          break;
      }
      return fn.returns;
    };

    const validateQuantizeParams = (c: Call): void => {
      const p = c.args.slice(1).map((x) => constValue(x));
      if (p.some((x) => x === null)) return;
      const n = p as bigint[];
      if (c.callee !== 'llquantize') {
        const [lo, hi, step = 1n] = n as [bigint, bigint, bigint?];
        if (hi <= lo) diag(error(Codes.BadArgument, 'lquantize(): the upper bound must be above the lower bound', c.span));
        else if (step <= 0n) diag(error(Codes.BadArgument, 'lquantize(): the step must be positive', c.span));
        else if (step > hi - lo) diag(error(Codes.BadArgument, `lquantize(): the step (${step}) is larger than the range ${lo}..${hi}`, c.args[3]!.span, ['use a step at most upper - lower, so there is at least one bucket']));
        else if ((hi - lo) / step > 1000n) diag(error(Codes.BadArgument, 'lquantize(): at most 1000 buckets', c.span));
      } else {
        const [factor, low, high, steps] = n as [bigint, bigint, bigint, bigint];
        if (factor < 2n) diag(error(Codes.BadArgument, 'llquantize(): the factor must be at least 2', c.args[1]!.span));
        else if (high < low) diag(error(Codes.BadArgument, 'llquantize(): the high magnitude must not be below the low one', c.span));
        else if (steps < 1n || steps > factor ** (low === 0n ? 1n : low + 1n) || (factor ** (low + 1n)) % steps !== 0n && steps > factor) {
          diag(error(Codes.BadArgument, 'llquantize(): steps must divide factor^(low+1)', c.args[4]!.span));
        } else if ((high - low + 1n) * steps > 4096n) diag(error(Codes.BadArgument, 'llquantize(): too many buckets (at most 4096)', c.span));
      }
    };

    const checkFormat = (fmt: string, given: number, span: Span, printa: boolean, types?: Type[], args?: readonly Expr[]): void => {
      const convs = [...fmt.matchAll(/%([-+ #0]*\d*(?:\.\d+)?)(@?)(hh|h|ll|l|z|j|t)?([a-zA-Z%])/g)];
      const keyConvs = convs.filter((m) => m[4] !== '%' && m[2] !== '@');
      if (printa) return; // keys and values are matched at print time
      if (keyConvs.length !== given) {
        diag(error(Codes.WrongArity, `the format has ${keyConvs.length} conversion${keyConvs.length === 1 ? '' : 's'} but ${given} argument${given === 1 ? ' was' : 's were'} given`, span));
        return;
      }
      keyConvs.forEach((m, i) => {
        const conv = m[4]!;
        const t = types?.[i];
        const arg = args?.[i];
        if (!t || !arg) return;
        if (conv === 's' && t !== 'string' && t !== 'unknown' && t !== 'stack') {
          diag(error(Codes.TypeMismatch, `%s needs a string, but this is ${an(t)}`, arg.span, [isNumericFunc(arg) ? 'in syscall::*: probes probefunc is the system call number: print it with %d, or key an aggregation by it to see names' : 'use %d for integers']));
        } else if ('diuxXcpo'.includes(conv) && t === 'string') {
          diag(error(Codes.TypeMismatch, `%${conv} needs an integer, but this is a string`, arg.span, ['use %s for strings']));
        } else if (!'diuxXcpos'.includes(conv)) {
          diag(error(Codes.BadArgument, `unsupported conversion %${conv}`, span, ['use %d, %u, %x, %s, %c or %p']));
        }
      });
    };

    const assignTarget = (t: Expr, valueType: Type, span: Span): void => {
      const record = (m: Map<string, VarSymbol>, name: string, keyed: boolean) => {
        const prev = m.get(name);
        if (!prev) m.set(name, { type: valueType, keyed, span });
        else if (!compatible(prev.type, valueType)) {
          diag(error(Codes.TypeMismatch, `${name} holds ${an(prev.type)}, and cannot be assigned ${an(valueType)}`, span));
        } else if (prev.type === 'unknown') prev.type = valueType;
      };
      switch (t.kind) {
        case 'SelfVar':
          record(a.selfVars, t.name, false);
          a.types.set(t, valueType);
          return;
        case 'ThisVar': {
          const prev = thisTypes.get(t.name);
          if (prev && !compatible(prev, valueType)) diag(error(Codes.TypeMismatch, `this->${t.name} holds ${an(prev)}, and cannot be assigned ${an(valueType)}`, span));
          thisTypes.set(t.name, valueType === 'unknown' ? (prev ?? 'unknown') : valueType);
          thisWritten.add(t.name);
          a.types.set(t, valueType);
          return;
        }
        case 'Ident':
          if (BUILTIN_VARS[t.name]) {
            diag(error(Codes.NotAssignable, `cannot assign to the builtin '${t.name}'`, t.span));
            return;
          }
          record(a.globals, t.name, false);
          a.types.set(t, valueType);
          return;
        case 'Index':
          if (t.object.kind === 'Ident' && !BUILTIN_VARS[t.object.name]) {
            for (const i of t.index) expr(i);
            record(a.globals, t.object.name, true);
            a.types.set(t, valueType);
            a.types.set(t.object, 'unknown');
            return;
          }
          break;
        case 'Agg':
          if (aggNames.has(t.name)) {
            diag(error(Codes.AggregationMismatch, `@${t.name} is an aggregation: assign it an aggregating function, e.g. @${t.name} = count()`, t.span));
            return;
          }
          for (const k of t.keys ?? []) expr(k);
          record(a.plainMaps, t.name, t.keys !== null);
          a.types.set(t, valueType);
          return;
      }
      diag(error(Codes.NotAssignable, 'cannot assign to this expression', t.span, ['assign to a variable: x, self->x, this->x, @name[keys]']));
    };

    const assign = (e: Assign): Type => {
      if (e.target.kind === 'Agg' && isAggCall(e.value)) {
        if (e.op !== '=') diag(error(Codes.SyntaxError, `aggregations are assigned with '=', not '${e.op}'`, e.span));
        declareAgg(e.target, e.value);
        call(e.value, true);
        return 'void';
      }
      const vt = expr(e.value);
      if (vt === 'void') diag(error(Codes.TypeMismatch, 'this has no value to assign', e.value.span));
      if (e.op !== '=' && !compatible(vt, 'int')) diag(error(Codes.TypeMismatch, `'${e.op}' needs an integer, but this is ${an(vt)}`, e.value.span));
      // `self->x = 0` and `x[k] = 0` free the variable, whatever its type (strings too), as in D.
      const frees = e.op === '=' && constValue(e.value) === 0n && (e.target.kind === 'SelfVar' || e.target.kind === 'Index');
      assignTarget(e.target, frees ? 'unknown' : e.op === '=' ? vt : 'int', e.span);
      return vt;
    };

    const declareAgg = (target: AggRef, value: Call): void => {
      const keys = target.keys ?? [];
      const keyTypes = keys.map((k) => expr(k));
      keys.forEach((k, i) => {
        if (keyTypes[i] === 'void') diag(error(Codes.TypeMismatch, 'this has no value to use as a key', k.span));
      });
      const func = (AGG_ALIASES[value.callee] ?? value.callee) as AggFunc;
      const prev = a.aggs.get(target.name);
      if (!prev) {
        a.aggs.set(target.name, {
          name: target.name, func, keyTypes, keyLabels: keys.map((k) => source.slice(k.span).trim()),
          params: value.args.slice(1).map((x) => constValue(x) ?? 0n), valueLabel: source.slice(value.span).replace(/\s+/g, ' '), span: target.span,
        });
        return;
      }
      const params = value.args.slice(1).map((x) => constValue(x) ?? 0n);
      if (func === 'lquantize' && params.length === 2) params.push(1n);
      const prevParams = prev.func === 'lquantize' && prev.params.length === 2 ? [...prev.params, 1n] : prev.params;
      if (prev.func !== func) {
        diag(error(Codes.AggregationMismatch, `@${target.name} is a ${prev.func}() aggregation and cannot also be ${func}()`, value.calleeSpan, undefined, [{ message: `@${target.name} was declared here`, span: prev.span }]));
      } else if ((func === 'lquantize' || func === 'llquantize') && params.join() !== prevParams.join()) {
        // One map has one bucket layout: bpftrace refuses two (and the runner could not render them).
        const args = value.args.slice(1);
        diag(error(Codes.AggregationMismatch, `@${target.name} has ${func}() parameters ${prevParams.join(', ')}, and cannot also have ${params.join(', ')}`, args.length ? { start: args[0]!.span.start, end: args[args.length - 1]!.span.end } : value.span, ['use the same parameters in every use of an aggregation, or two aggregations'], [{ message: `@${target.name} was declared here`, span: prev.span }]));
      } else if (prev.keyTypes.length !== keyTypes.length) {
        diag(error(Codes.AggregationMismatch, `@${target.name} has ${prev.keyTypes.length} key${prev.keyTypes.length === 1 ? '' : 's'}, not ${keyTypes.length}`, target.span, undefined, [{ message: 'first used here', span: prev.span }]));
      } else {
        keyTypes.forEach((t, i) => {
          if (!compatible(t, prev.keyTypes[i]!)) diag(error(Codes.TypeMismatch, `key ${i + 1} of @${target.name} is ${an(prev.keyTypes[i]!)}, not ${an(t)}`, keys[i]!.span));
        });
      }
    };

    const stmts = (list: readonly Stmt[]): void => {
      for (const s of list) {
        if (s.kind === 'If') {
          const t = expr(s.cond);
          if (t === 'string' || t === 'void') diag(error(Codes.TypeMismatch, `a condition must be an integer, not ${an(t)}`, s.cond.span));
          stmts(s.then);
          if (s.else) stmts(s.else);
        } else {
          const t = expr(s.expr);
          if (s.expr.kind !== 'Assign' && s.expr.kind !== 'Call' && s.expr.kind !== 'Update' && t !== 'void') {
            diag(warning(Codes.Unsupported, 'this statement has no effect', s.span));
          }
        }
      }
    };

    const thisTypes = new Map<string, Type>();
    if (clause.predicate) {
      const t = expr(clause.predicate);
      if (t === 'string' || t === 'void') diag(error(Codes.TypeMismatch, `a predicate must be an integer condition, not ${an(t)}`, clause.predicate.span, t === 'string' ? ['compare it: /execname == "nginx"/'] : undefined));
    }
    stmts(clause.body);
  }
  return a;
}

/** Names assigned an aggregating function anywhere: needed before checking any clause. */
export function collectAggNames(program: Program): Set<string> {
  const names = new Set<string>();
  for (const item of program.items) {
    if (item.kind !== 'Clause') continue;
    forEachExpr(item.body, (e) => {
      if (e.kind === 'Assign' && e.target.kind === 'Agg' && isAggCall(e.value)) names.add(e.target.name);
    });
  }
  return names;
}

export function forEachExpr(stmts: readonly Stmt[], fn: (e: Expr) => void): void {
  const walk = (e: Expr): void => {
    fn(e);
    switch (e.kind) {
      case 'Agg':
        e.keys?.forEach(walk);
        break;
      case 'Index':
        walk(e.object);
        e.index.forEach(walk);
        break;
      case 'Member':
        walk(e.object);
        break;
      case 'Call':
        e.args.forEach(walk);
        break;
      case 'Unary':
        walk(e.operand);
        break;
      case 'Update':
        walk(e.target);
        break;
      case 'Binary':
        walk(e.left);
        walk(e.right);
        break;
      case 'Ternary':
        walk(e.cond);
        walk(e.then);
        walk(e.else);
        break;
      case 'Assign':
        walk(e.target);
        walk(e.value);
        break;
      case 'Cast':
        walk(e.operand);
        break;
    }
  };
  for (const s of stmts) {
    if (s.kind === 'ExprStmt') walk(s.expr);
    else {
      walk(s.cond);
      forEachExpr(s.then, fn);
      if (s.else) forEachExpr(s.else, fn);
    }
  }
}

/** "an int", "a string": type names in messages. */
function an(t: Type): string {
  const words: Record<Type, string> = { int: 'an integer', string: 'a string', stack: 'a stack', ptr: 'a pointer', void: 'nothing', unknown: 'a value' };
  return words[t];
}

export function constValue(e: Expr): bigint | null {
  if (e.kind === 'Int') return e.value * (e.unit ? TIME_UNIT_NS[e.unit]! : 1n);
  if (e.kind === 'Unary' && e.op === '-') {
    const v = constValue(e.operand);
    return v === null ? null : -v;
  }
  return null;
}

function isConstInt(e: Expr): boolean {
  return constValue(e) !== null;
}

