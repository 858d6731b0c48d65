// The grammar of one clause, as a chevrotain CstParser. One instance is built at load and
// reused for every clause (chevrotain's performance guide: never rebuild the grammar per call).
// parse.ts feeds it one clause's tokens at a time; build-ast.ts turns its CST into the AST.
//
// The CST is kept shallow for speed (an operand costs two rule calls, not ten): binary
// operators are parsed flat (`unary (op unary)*`) and precedence is applied in build-ast.ts
// from BINARY_PRECEDENCE; primaries are inlined into unaryExpr.

import { CstParser, EOF, type CstNode, type IToken, type TokenType } from 'chevrotain';
import { SyntaxMessages } from './syntax-messages.js';
import * as T from './tokens.js';
import { quote } from './tokens.js';

/** A syntax error found by a grammar action rather than by chevrotain itself. */
export interface ActionError {
  readonly token: IToken;
  readonly message: string;
}

// Recovery may invent punctuation, never a token that carries a value.
const INSERTABLE: ReadonlySet<TokenType> = new Set([T.RParen, T.RBracket, T.RCurly, T.AngleClose, T.PredClose, T.Semi, T.Colon]);

export class ClauseParser extends CstParser {
  readonly messages: SyntaxMessages;
  actionErrors: ActionError[] = [];

  /**
   * `validate`: check the grammar itself (ambiguities, left recursion) while building it. It
   * costs ~15 ms at every start, so the shared parser skips it; a unit test builds one with
   * it on, so a grammar change that breaks a rule still fails the tests.
   */
  constructor(opts: { validate?: boolean } = {}) {
    const messages = new SyntaxMessages();
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 2, skipValidations: opts.validate !== true });
    this.messages = messages;
    this.performSelfAnalysis();
  }

  /** Parses one clause's tokens. Errors are left in `this.errors` and `this.actionErrors`. */
  parseClause(tokens: IToken[]): CstNode {
    this.input = tokens;
    this.actionErrors = [];
    return this.clause();
  }

  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return INSERTABLE.has(tokType);
  }

  readonly clause = this.RULE('clause', () => {
    this.CONSUME(T.ProbeDesc);
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.CONSUME2(T.ProbeDesc);
    });
    this.OPTION(() => this.SUBRULE(this.predicate));
    this.OR([
      { ALT: () => this.SUBRULE(this.braceBlock) },
      { ALT: () => this.SUBRULE(this.angleBlock) },
    ]);
  });

  readonly predicate = this.RULE('predicate', () => {
    this.CONSUME(T.PredOpen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.PredClose);
  });

  readonly braceBlock = this.RULE('braceBlock', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RCurly);
  });

  readonly angleBlock = this.RULE('angleBlock', () => {
    this.CONSUME(T.LAngle);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.AngleClose);
  });

  readonly statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Semi) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      {
        ALT: () => {
          this.SUBRULE(this.expression);
          let terminated = false;
          this.OPTION(() => {
            this.CONSUME2(T.Semi);
            terminated = true;
          });
          // Statements need ';' between them, not before a block's end. Checked here rather
          // than in the grammar so that parsing goes on with the next statement.
          this.ACTION(() => {
            if (!terminated) this.checkStatementEnd();
          });
        },
      },
    ]);
  });

  private checkStatementEnd(): void {
    const next = this.LA(1);
    const t = next.tokenType;
    if (t === T.RCurly || t === T.AngleClose || t === EOF) return;
    const stray = t === T.RParen || t === T.RBracket;
    this.actionErrors.push({ token: next, message: stray ? `unexpected '${next.image}'` : `expected ';' before ${quote(next.image)}` });
  }

  readonly ifStmt = this.RULE('ifStmt', () => {
    this.CONSUME(T.If);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
    this.SUBRULE(this.body);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.SUBRULE2(this.body);
    });
  });

  /** The body of `if` or `else`: a block, or one statement. */
  readonly body = this.RULE('body', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.braceBlock) },
      { ALT: () => this.SUBRULE(this.statement) },
    ]);
  });

  /**
   * `unary (binop unary)*`, then an optional `? :` or assignment tail (both right-assoc).
   * Precedence among the binary operators is applied in build-ast.ts.
   */
  readonly expression = this.RULE('expression', () => {
    this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      this.CONSUME(T.BinaryOp);
      this.SUBRULE2(this.unaryExpr);
    });
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.ternaryTail) },
        { ALT: () => this.SUBRULE(this.assignTail) },
      ]);
    });
  });

  readonly ternaryTail = this.RULE('ternaryTail', () => {
    this.CONSUME(T.Question);
    this.SUBRULE(this.expression);
    this.CONSUME(T.Colon);
    this.SUBRULE2(this.expression);
  });

  readonly assignTail = this.RULE('assignTail', () => {
    this.CONSUME(T.AssignOp);
    this.SUBRULE(this.expression);
  });

  /**
   * A prefix operator and its operand, or a primary expression followed by postfix
   * operators. Primaries are inlined here (not a rule of their own) to keep the CST shallow.
   */
  readonly unaryExpr = this.RULE('unaryExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.UnaryOp);
          this.SUBRULE(this.unaryExpr);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.IncDec);
          this.SUBRULE2(this.unaryExpr);
        },
      },
      { ALT: () => this.CONSUME(T.Int) },
      { ALT: () => this.CONSUME(T.Char) },
      { ALT: () => this.CONSUME(T.Str) },
      {
        ALT: () => {
          this.CONSUME(T.Ident);
          this.OPTION(() => this.SUBRULE(this.callArgs));
        },
      },
      { ALT: () => this.CONSUME(T.ScriptArg) },
      { ALT: () => this.CONSUME(T.MacroVar) },
      {
        ALT: () => {
          this.CONSUME(T.Self);
          this.CONSUME(T.Arrow);
          this.CONSUME2(T.Ident);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.This);
          this.CONSUME2(T.Arrow);
          this.CONSUME3(T.Ident);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Agg);
          this.OPTION2(() => {
            this.CONSUME(T.LBracket);
            this.SUBRULE(this.expression);
            this.MANY(() => {
              this.CONSUME(T.Comma);
              this.SUBRULE2(this.expression);
            });
            this.CONSUME(T.RBracket);
          });
        },
      },
      { ALT: () => this.SUBRULE(this.parenOrCast) },
    ]);
    this.MANY2(() => this.SUBRULE(this.postfixOp));
  });

  /** `(type) operand` or `(expr)`: a cast when a type keyword follows '('. */
  readonly parenOrCast = this.RULE('parenOrCast', () => {
    this.CONSUME(T.LParen);
    this.OR([
      {
        ALT: () => {
          this.SUBRULE(this.typeName);
          this.CONSUME(T.RParen);
          this.SUBRULE(this.unaryExpr);
        },
      },
      {
        ALT: () => {
          this.SUBRULE(this.expression);
          this.CONSUME2(T.RParen);
        },
      },
    ]);
  });

  readonly typeName = this.RULE('typeName', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.StructKw);
          this.CONSUME(T.Ident);
        },
      },
      { ALT: () => this.AT_LEAST_ONE(() => this.CONSUME(T.TypeKw)) },
    ]);
    this.MANY(() => this.CONSUME(T.Star));
  });

  readonly postfixOp = this.RULE('postfixOp', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.SUBRULE(this.expression);
          this.MANY(() => {
            this.CONSUME(T.Comma);
            this.SUBRULE2(this.expression);
          });
          this.CONSUME(T.RBracket);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Arrow);
          this.CONSUME(T.Ident);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Dot);
          this.CONSUME2(T.Ident);
        },
      },
      { ALT: () => this.CONSUME(T.IncDec) },
    ]);
  });

  readonly callArgs = this.RULE('callArgs', () => {
    this.CONSUME(T.LParen);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.expression);
      });
    });
    this.CONSUME(T.RParen);
  });
}

export const parser = new ClauseParser();
