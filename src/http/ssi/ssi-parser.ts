// SSI tokenizer: a port of nginx's ngx_http_ssi_parse (ngx_http_ssi_filter_module.c), the
// state machine from ssi_start_state to ssi_error_end1_state, together with the part of
// ngx_http_ssi_body_filter that decides which bytes pass on as text (copy_start/copy_end,
// ctx->looked and ctx->saved).
//
// As in nginx:
//  - values are kept as sent: a backslash and the byte after it are both stored (the byte
//    after it just cannot end the value). Escapes are resolved later, and only for the
//    parameters nginx evaluates (ngx_http_ssi_evaluate_string: include, set value, if expr),
//    which also needs the backslash to tell `\$x` from `$x`; echo default or config errmsg
//    keep the backslashes.
//  - the limits count stored bytes, backslashes included: command name 32, parameter name
//    32, value ssi_value_length.
//  - "too many SSI command parameters" is not the parser's: the filter reports it after
//    the command lookup (an unknown command says "invalid SSI command" first), so a command
//    event carries all its parameters; SSI_MAX_PARAMS is exported for that check.
//  - an error is logged when found but the filter outputs errmsg only at the `-->` that
//    ends it; so the error event comes at that `-->` and `pendingError` holds the message
//    in between.
//  - at the end of the body nothing held is output: a partial `<!--` and an unterminated
//    command (or error) are dropped, so finish() returns no events.
//
// Deliberate difference: nginx's output depends on its buffer boundaries in two places.
// A tag prefix held at a buffer's end (ctx->saved) is lost when the next buffer restarts
// with '<' and goes on to a command ("<!" | "<!--#..."), and any held prefix is lost when
// a buffer ends in the middle of a command. Here the output is the same wherever the
// chunks are cut: what nginx produces for the body in one buffer.
//
// Checked against nginx 1.22.1 (ssi on, static file, output_buffers 1 3 / 1 8 for the
// buffer cases): "abc<!-" -> "abc"; 'abc<!--#echo var="x"' -> "abc", no log;
// 'a<!--#echo --->b-->c' -> a errmsg c (the third '-' is the error, then `>b` is skipped);
// "a<!--#-->b" -> "a" and 'unexpected ">" symbol in "-" SSI command', no errmsg;
// echo default='q\'' -> "q\'"; every message below with the input in the tests; the
// command, name and value limits (value with ssi_value_length 8, backslashes counted);
// 17 parameters -> "too many SSI command parameters"; "<!-- c -->d<!--x<!<!-<--#e" as text.

export type SsiEvent =
  | { kind: 'text'; data: Buffer }
  | { kind: 'command'; name: string; params: Array<[string, string]> }
  | { kind: 'error'; message: string };

export const SSI_COMMAND_LEN = 32;
export const SSI_PARAM_LEN = 32;
export const SSI_MAX_PARAMS = 16;
export const SSI_VALUE_LEN_DEFAULT = 256;

// The held tag prefix is always the start of this, so it need not be copied (nginx's
// ngx_http_ssi_string).
const TAG_OPEN = Buffer.from('<!--', 'latin1');

const enum S {
  Start,
  Tag,
  Comment0,
  Comment1,
  Sharp,
  Precommand,
  Command,
  Preparam,
  Param,
  Preequal,
  Prevalue,
  DoubleQuotedValue,
  QuotedValue,
  QuotedSymbol,
  Postparam,
  CommentEnd0,
  CommentEnd1,
  Error,
  ErrorEnd0,
  ErrorEnd1,
}

const LT = 0x3c;
const BANG = 0x21;
const DASH = 0x2d;
const SHARP = 0x23;
const GT = 0x3e;
const EQ = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

function isSpace(ch: number): boolean {
  return ch === 0x20 || ch === 0x0d || ch === 0x0a || ch === 0x09;
}

export class SsiParser {
  private state = S.Start;
  private savedState = S.DoubleQuotedValue;
  // Bytes of "<!--" matched so far by the tag being looked at (nginx's looked).
  private looked = 0;
  // How many of those came in earlier chunks, so are not in the current one.
  private held = 0;

  private readonly valueLength: number;
  private readonly command = Buffer.allocUnsafe(SSI_COMMAND_LEN);
  private commandLen = 0;
  private readonly key = Buffer.allocUnsafe(SSI_PARAM_LEN);
  private keyLen = 0;
  private readonly value: Buffer;
  private valueLen = 0;
  private params: Array<[string, string]> = [];

  /** The message of an error found in a command whose `-->` has not come (yet); nginx logs it when found. */
  pendingError: string | undefined;

  /** valueLength: ssi_value_length (nginx's default 256). */
  constructor(valueLength = SSI_VALUE_LEN_DEFAULT) {
    this.valueLength = valueLength;
    this.value = Buffer.allocUnsafe(valueLength);
  }

  /** Feeds the next piece of the body; returns the events it completes, in order. */
  feed(chunk: Buffer): SsiEvent[] {
    const out: SsiEvent[] = [];
    const len = chunk.length;
    // Where this chunk's text not yet emitted begins; meaningful outside commands.
    let textStart = 0;
    let state = this.state;
    let p = 0;

    const text = (end: number): void => {
      if (end > textStart) out.push({ kind: 'text', data: chunk.subarray(textStart, end) });
    };
    // The bytes looked at were not a tag after all; those of earlier chunks go out first,
    // the ones in this chunk are already part of the pending text.
    const notTag = (): void => {
      if (this.held > 0) {
        out.push({ kind: 'text', data: TAG_OPEN.subarray(0, this.held) });
        this.held = 0;
      }
    };
    const fail = (message: string, next: S): S => {
      this.pendingError = message;
      return next;
    };

    while (p < len) {
      if (state === S.Start) {
        const lt = chunk.indexOf(LT, p);
        if (lt < 0) {
          p = len;
          break;
        }
        this.looked = 1;
        state = S.Tag;
        p = lt + 1;
        continue;
      }

      if (state === S.Error) {
        // Everything up to the next "--" is swallowed.
        const dash = chunk.indexOf(DASH, p);
        if (dash < 0) {
          p = len;
          break;
        }
        state = S.ErrorEnd0;
        p = dash + 1;
        continue;
      }

      const ch = chunk[p];

      switch (state) {
        case S.Tag:
        case S.Comment0:
        case S.Comment1:
        case S.Sharp: {
          const expected = state === S.Tag ? BANG : state === S.Sharp ? SHARP : DASH;
          if (ch === expected) {
            if (state === S.Sharp) {
              // The "<!--" belongs to the command: only the text before it goes out.
              text(p - (4 - this.held));
              this.held = 0;
              this.looked = 0;
              state = S.Precommand;
            } else {
              // Tag, Comment0, Comment1, Sharp follow each other, one per byte of "<!--".
              this.looked++;
              state++;
            }
          } else {
            notTag();
            if (ch === LT) {
              this.looked = 1;
              state = S.Tag;
            } else {
              this.looked = 0;
              state = S.Start;
            }
          }
          break;
        }

        case S.Precommand:
          if (!isSpace(ch)) {
            this.command[0] = ch;
            this.commandLen = 1;
            this.params = [];
            state = S.Command;
          }
          break;

        case S.Command:
          if (isSpace(ch)) {
            state = S.Preparam;
          } else if (ch === DASH) {
            state = S.CommentEnd0;
          } else if (this.commandLen === SSI_COMMAND_LEN) {
            state = fail(`the "${this.commandName()}${chr(ch)}..." SSI command is too long`, S.Error);
          } else {
            this.command[this.commandLen++] = ch;
          }
          break;

        case S.Preparam:
          if (ch === DASH) {
            state = S.CommentEnd0;
          } else if (!isSpace(ch)) {
            this.key[0] = ch;
            this.keyLen = 1;
            this.valueLen = 0;
            state = S.Param;
          }
          break;

        case S.Param:
          if (isSpace(ch)) {
            state = S.Preequal;
          } else if (ch === EQ) {
            state = S.Prevalue;
          } else if (ch === DASH) {
            state = fail(
              `unexpected "-" symbol after "${this.keyName()}" parameter in "${this.commandName()}" SSI command`,
              S.ErrorEnd0,
            );
          } else if (this.keyLen === SSI_PARAM_LEN) {
            state = fail(
              `too long "${this.keyName()}${chr(ch)}..." parameter in "${this.commandName()}" SSI command`,
              S.Error,
            );
          } else {
            this.key[this.keyLen++] = ch;
          }
          break;

        case S.Preequal:
          if (ch === EQ) {
            state = S.Prevalue;
          } else if (!isSpace(ch)) {
            state = fail(
              `unexpected "${chr(ch)}" symbol after "${this.keyName()}" parameter in "${this.commandName()}" SSI command`,
              ch === DASH ? S.ErrorEnd0 : S.Error,
            );
          }
          break;

        case S.Prevalue:
          if (ch === DQUOTE) {
            state = S.DoubleQuotedValue;
          } else if (ch === SQUOTE) {
            state = S.QuotedValue;
          } else if (!isSpace(ch)) {
            state = fail(
              `unexpected "${chr(ch)}" symbol before value of "${this.keyName()}" parameter in "${this.commandName()}" SSI command`,
              ch === DASH ? S.ErrorEnd0 : S.Error,
            );
          }
          break;

        case S.DoubleQuotedValue:
        case S.QuotedValue:
          if (ch === (state === S.DoubleQuotedValue ? DQUOTE : SQUOTE)) {
            this.params.push([this.keyName(), this.value.toString('latin1', 0, this.valueLen)]);
            state = S.Postparam;
            break;
          }
          if (ch === BACKSLASH) {
            this.savedState = state;
            state = S.QuotedSymbol;
          }
          state = this.storeValueByte(ch, state);
          break;

        case S.QuotedSymbol:
          state = this.storeValueByte(ch, this.savedState);
          break;

        case S.Postparam:
          if (isSpace(ch)) {
            state = S.Preparam;
          } else if (ch === DASH) {
            state = S.CommentEnd0;
          } else {
            const [key, value] = this.params[this.params.length - 1];
            state = fail(
              `unexpected "${chr(ch)}" symbol after "${value}" value of "${key}" parameter in "${this.commandName()}" SSI command`,
              S.Error,
            );
          }
          break;

        case S.CommentEnd0:
        case S.CommentEnd1:
          if (state === S.CommentEnd0 ? ch === DASH : ch === GT) {
            if (state === S.CommentEnd0) {
              state = S.CommentEnd1;
            } else {
              out.push({ kind: 'command', name: this.commandName(), params: this.params });
              this.params = [];
              state = S.Start;
              textStart = p + 1;
            }
          } else {
            state = fail(`unexpected "${chr(ch)}" symbol in "${this.commandName()}" SSI command`, S.Error);
          }
          break;

        case S.ErrorEnd0:
          state = ch === DASH ? S.ErrorEnd1 : S.Error;
          break;

        case S.ErrorEnd1:
          // A third '-' starts over rather than staying here, so "--->" does not end it.
          if (ch === GT) {
            out.push({ kind: 'error', message: this.pendingError ?? '' });
            this.pendingError = undefined;
            this.params = [];
            state = S.Start;
            textStart = p + 1;
          } else {
            state = S.Error;
          }
          break;
      }
      p++;
    }

    if (state === S.Start) {
      text(len);
    } else if (state <= S.Sharp) {
      // Hold the tag prefix until the next chunk decides it.
      text(len - (this.looked - this.held));
      this.held = this.looked;
    }
    this.state = state;
    return out;
  }

  /**
   * End of body. Like nginx, a held "<!--" prefix or an unterminated command is dropped,
   * not output; pendingError is left for the caller to log, as nginx has.
   */
  finish(): SsiEvent[] {
    this.state = S.Start;
    this.looked = 0;
    this.held = 0;
    this.params = [];
    return [];
  }

  private storeValueByte(ch: number, next: S): S {
    if (this.valueLen === this.valueLength) {
      return this.failValue(ch);
    }
    this.value[this.valueLen++] = ch;
    return next;
  }

  private failValue(ch: number): S {
    this.pendingError =
      `too long "${this.value.toString('latin1', 0, this.valueLen)}${chr(ch)}..." value of ` +
      `"${this.keyName()}" parameter in "${this.commandName()}" SSI command`;
    return S.Error;
  }

  private commandName(): string {
    return this.command.toString('latin1', 0, this.commandLen);
  }

  private keyName(): string {
    return this.key.toString('latin1', 0, this.keyLen);
  }
}

function chr(ch: number): string {
  return String.fromCharCode(ch);
}
