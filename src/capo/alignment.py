"""Map the generated token ids of a response to its steps.

The map is computed from the ids themselves, never by re-tokenizing the text (re-tokenizing may
give other ids). Each token gets the characters it *completes* when the ids are decoded one by
one: with byte-level BPE a multi-byte character split across tokens belongs to the token that
supplies its last byte, and tokens that supply only a partial character own the character they
contribute to. Special tokens (EOS, padding) decode to nothing and are outside every step.

Boundary rule: a token whose characters overlap several steps (e.g. ".\\n\\nThe") belongs to
the FIRST step it overlaps; a token overlapping no step (separators, EOS) is outside (-1).
"""

from __future__ import annotations

import bisect
import codecs
import json
from collections.abc import Sequence

from capo.steps import Step

OUTSIDE = -1


def _byte_level_tables(tokenizer):
    """(id -> bytes) decoder for byte-level BPE tokenizers, or None for other tokenizers."""
    cached = getattr(tokenizer, "_capo_byte_tables", False)
    if cached is not False:
        return cached
    tables = None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        decoder = json.loads(backend.to_str()).get("decoder") or {}
        kinds = [decoder.get("type")] + [d.get("type") for d in decoder.get("decoders", []) or []]
        if "ByteLevel" in kinds and decoder.get("type") in ("ByteLevel", "Sequence"):
            # GPT-2's reversible byte <-> printable-unicode table.
            printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            printable += list(range(ord("®"), ord("ÿ") + 1))
            chars, extra = list(printable), 0
            for b in range(256):
                if b not in printable:
                    printable.append(b)
                    chars.append(256 + extra)
                    extra += 1
            unicode_to_byte = {chr(c): b for b, c in zip(printable, chars)}
            added = {i: t for i, t in tokenizer.added_tokens_decoder.items()}
            tables = (unicode_to_byte, added, {})
    try:
        tokenizer._capo_byte_tables = tables
    except AttributeError:
        pass
    return tables


def _token_bytes_byte_level(tokenizer, tables, token_ids: Sequence[int], skip_special: bool) -> list[bytes]:
    unicode_to_byte, added, cache = tables  # cache: (id, skip_special) -> bytes, filled lazily
    missing = [int(t) for t in token_ids if (int(t), skip_special) not in cache]
    if missing:
        for tid, piece in zip(missing, tokenizer.convert_ids_to_tokens(missing)):
            tok = added.get(tid)
            if tok is not None:
                value = b"" if (tok.special and skip_special) else tok.content.encode("utf-8")
            elif piece is None:
                value = b""
            else:
                value = bytes(unicode_to_byte.get(ch, 0) for ch in piece)
            cache[(tid, skip_special)] = value
    return [cache[(int(t), skip_special)] for t in token_ids]


def token_char_spans(tokenizer, token_ids: Sequence[int], skip_special_tokens: bool = True):
    """Decode `token_ids`; return (text, spans, byte_counts).

    spans[k] = (start, end) characters of token k; spans tile the text in order. A token that
    only supplies part of a character has an empty span and byte_counts[k] > 0 (byte_counts is
    None for non-byte-level tokenizers, whose empty-span tokens are treated the same way).
    """
    tables = _byte_level_tables(tokenizer)
    if tables is not None:
        pieces = _token_bytes_byte_level(tokenizer, tables, token_ids, skip_special_tokens)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts, spans, cursor = [], [], 0
        for piece in pieces:
            chunk = decoder.decode(piece)
            parts.append(chunk)
            spans.append((cursor, cursor + len(chunk)))
            cursor += len(chunk)
        tail = decoder.decode(b"", final=True)  # a dangling partial character at the very end
        if tail:
            last = max((k for k, p in enumerate(pieces) if p), default=None)
            if last is not None:
                parts.append(tail)
                s, _ = spans[last]
                spans[last] = (s, cursor + len(tail))
                cursor += len(tail)
        return "".join(parts), spans, [len(p) for p in pieces]
    text, spans = _spans_by_prefix_decoding(tokenizer, token_ids, skip_special_tokens)
    return text, spans, None


def _spans_by_prefix_decoding(tokenizer, token_ids, skip_special_tokens):
    """Generic fallback (SentencePiece etc.): decode growing prefixes. O(T^2) but exact for any
    tokenizer whose prefix decodings are prefixes of the full decoding."""
    ids = list(token_ids)
    prefixes = tokenizer.batch_decode([ids[: k + 1] for k in range(len(ids))], skip_special_tokens=skip_special_tokens)
    text = tokenizer.decode(ids, skip_special_tokens=skip_special_tokens) if ids else ""
    spans, cursor = [], 0
    for prefix in prefixes:
        end = len(prefix.rstrip("\ufffd")) if not text.endswith("\ufffd") else len(prefix)
        end = max(cursor, min(end, len(text)))
        if not text.startswith(prefix[:end]):
            end = cursor  # prefix decoding disagrees (rare); attribute chars to a later token
        spans.append((cursor, end))
        cursor = end
    if spans and cursor < len(text):
        s, _ = spans[-1]
        spans[-1] = (s, len(text))
    return text, spans


def assign_tokens_to_steps(spans: Sequence[tuple[int, int]], steps: Sequence[Step], byte_counts=None) -> list[int]:
    """Step index of every token (OUTSIDE = -1) from char spans and step spans.

    A token with an empty span that still carries bytes (`byte_counts[k] > 0`, a partial
    character) takes the step of the next token that completes a character.
    """
    starts = [s.start for s in steps]
    owners = [OUTSIDE] * len(spans)
    pending: list[int] = []
    for k, (a, b) in enumerate(spans):
        if a == b:
            if byte_counts is None or byte_counts[k] > 0:
                pending.append(k)
            continue
        owner = OUTSIDE
        # first step whose span overlaps [a, b)
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and steps[i].end > a:
            owner = i
        elif i + 1 < len(steps) and steps[i + 1].start < b:
            owner = i + 1
        for p in pending:
            owners[p] = owner
        pending.clear()
        owners[k] = owner
    return owners


def separators_join_next_step(token_steps: Sequence[int]) -> list[int]:
    """Give each outside token that precedes a step token (a separator opening the next step) that
    step's index; tokens after the last step (trailing blank lines, EOS) stay outside.

    Why: with separators outside every step they get C*r_v and never a penalty, and the lab showed
    a small policy learning to emit extra blank lines for it (docs/results/lab/README.md).
    """
    out, following = list(token_steps), OUTSIDE
    for k in range(len(out) - 1, -1, -1):
        if out[k] != OUTSIDE:
            following = out[k]
        elif following != OUTSIDE:
            out[k] = following
    return out


def trailing_tokens_join_last_step(token_steps: Sequence[int]) -> list[int]:
    """Give the tokens after the last step (trailing blank lines, EOS) the last step's index.

    Why: outside every step, the EOS token of a flagged response gets C*r_v = 0 while its steps get
    -P, so in an all-wrong group (process_groups="all") it earns the largest advantage in the group:
    a push to stop early, whatever the response says. On SmolLM2 one run learned to stop before
    writing an answer (docs/results/real-model-pg-all).
    """
    out = list(token_steps)
    end = max((k for k, step in enumerate(out) if step != OUTSIDE), default=None)
    if end is not None:
        out[end + 1:] = [out[end]] * (len(out) - end - 1)
    return out


def align_response(tokenizer, token_ids: Sequence[int], split):
    """Decode, split and align in one pass: returns (text, steps, step_id_per_token).

    `split` is a function text -> list[Step] (see capo.steps.compile_splitter).
    """
    text, spans, byte_counts = token_char_spans(tokenizer, token_ids)
    steps = split(text)
    return text, steps, assign_tokens_to_steps(spans, steps, byte_counts)
