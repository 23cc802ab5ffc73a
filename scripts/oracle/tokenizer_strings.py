"""Seeded random strings for the tokenizer oracle (scripts/oracle/make_tokenizer_fixture.py and
Tests/Interop/test_tokenizer.py): the cases where byte-level BPE with Qwen2's split regex is easy to get
wrong. Each string joins a few random pieces: words and contractions (any case, with U+017F, which
case-folds to 's'), digits of several scripts, runs of every kind of whitespace and line break, CJK, Hangul,
emoji with ZWJ, skin tones, flags and variation selectors, combining marks and other decomposed forms that
NFC changes, scripts whose vowel signs are marks (not letters), punctuation, control characters, and the
Qwen3-VL added tokens inline (whole, doubled, and cut short).
"""
import random

ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
         "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
         "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
         "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
         "<tool_response>", "</tool_response>", "<think>", "</think>"]

WORDS = ["the", "model", "checkpoint", "Megatron", "tensor", "hello", "world", "Qwen", "vision", "token",
         "don't", "I'M", "we'LL", "they'Re", "it's", "you'VE", "she'd", "'s", "'T", "o'clock", "rock'n'roll",
         "naïve", "café", "Straße", "ÅNGSTRÖM", "über", "ſ", "'ſ", "x'ſ", "'S", "''s", "' s"]
SCRIPTS = [(0x4E00, 0x9FFF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3), (0x0400, 0x04FF),
           (0x0370, 0x03FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x0590, 0x05FF),
           (0x1F600, 0x1F64F), (0x1F300, 0x1F5FF), (0x2600, 0x26FF), (0x2190, 0x21FF), (0x2200, 0x22FF),
           (0x00A0, 0x00FF), (0x0100, 0x017F), (0x0300, 0x036F), (0x2000, 0x206F), (0xFF00, 0xFFEF),
           (0x2150, 0x218F), (0x1100, 0x11FF)]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \n\n  ", "\u00a0", "\u3000",
          "\u2028", "\u2029", "\u0085", "\u200b", "\u2009", "\u202f", "\x0b", "\x0c", "\t\n\t", "    \n"]
NUMBERS = ["0", "42", "2026", "3.14159", "1,000,000", "٣٤٥", "१२३", "１２３", "²", "½", "Ⅻ", "⑦", "10⁻⁶", "0x1F"]
PUNCT = ["!", "?", ".", ",", "...", "…", "—", "«»", "¿", "(", ")", "[]{}", "#", "$$", "%", "&&", "**", "@",
         "\"", "'", "`", "~", "^", "|", "\\", "/", "<", ">", "<|", "|>", "<|im_sta", "|im_end|>", "<think", "-->"]
SPECIAL_SEQUENCES = ["e\u0301", "A\u030a", "\u212b", "\u1100\u1161\u11a8", "o\u0308\u0301", "\u0041\u0327\u0301",
                     "👨\u200d👩\u200d👧", "👍🏽", "🇯🇵🇩🇪", "❤\ufe0f", "\ufeff", "\x00", "\x1f", "\x7f", "\u00ad",
                     "हिन्दी", "ไทย", "עִבְרִית", "العَرَبِيَّة", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙", "ﬁ", "Ǆ", "ǅ"]


def piece(rng):
    kind = rng.randrange(9)
    if kind == 0:
        w = rng.choice(WORDS)
        return w.upper() if rng.random() < 0.2 else w.capitalize() if rng.random() < 0.2 else w
    if kind == 1:
        return rng.choice(SPACES)
    if kind == 2:
        return rng.choice(NUMBERS) if rng.random() < 0.5 else str(rng.randrange(10 ** rng.randrange(1, 12)))
    if kind == 3:
        return rng.choice(PUNCT)
    if kind == 4:
        lo, hi = rng.choice(SCRIPTS)
        return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6)))
    if kind == 5:
        return rng.choice(SPECIAL_SEQUENCES)
    if kind == 6:
        t = rng.choice(ADDED)
        return t * rng.randint(1, 3) if rng.random() < 0.8 else t[:rng.randint(1, len(t) - 1)]
    if kind == 7:
        return "".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(1, 10)))
    return " " * rng.randint(1, 9) + rng.choice(["\n", "", "x", "\t"])


def random_string(rng):
    n = rng.randint(1, 14)
    return "".join(piece(rng) + (rng.choice(["", " ", "", "\n"]) if rng.random() < 0.5 else "") for _ in range(n))


def strings(seed, count):
    rng = random.Random(seed)
    out = ["", " ", "\n", "  \n  ", "a", "'s", "'S", "'ſ", "<|im_start|>", "<|im_start|>user\nhi<|im_end|>\n"]
    while len(out) < count:
        out.append(random_string(rng))
    return out


def id_lists(seed, count, vocab):
    """Random id sequences over the whole vocabulary (partial UTF-8 byte tokens, added tokens)."""
    rng = random.Random(seed)
    return [[rng.randrange(vocab) for _ in range(rng.randint(1, 24))] for _ in range(count)]
