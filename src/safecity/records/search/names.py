"""Keys that make a name findable across spellings and scripts (pure: no database).

A name is split into tokens and each token folded to a key: Latin spellings lose what varies between
transliterations (short vowels, doubled letters, kh/gh/sh/ch/th/dh/ph, w/v, q/k, c/k), Urdu and Arabic
script is transliterated to the same skeleton (hamza, alef, yeh and heh variants, ZWNJ and diacritics
dropped; ٹ ڈ ڑ ں ے ہ ھ ک ی read as Urdu). So Muhammad, Mohammed, Muhammed and محمد share a key, as do
Hussain, Husain, Hussein and حسین. What folding cannot bring together (Mohd, Chaudhry and چوہدری) or
keeps together wrongly (Mahmood with Muhammad: the same consonants) is data, in names.toml.

A key is: "A" when the token starts with a vowel, the consonants, then the class of a final vowel (A, I, U),
so Ali (AlI) and Aliya (AlA) stay apart while Ali, Aly and علی meet.
"""

# ruff: noqa: RUF001, RUF002 - Urdu and Arabic letters are what this module works on

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

# Arabic-script letters as the skeleton writes them; those missing (alef, ain, hamzas, yeh, waw, heh at
# the edges) are vowels or glides, handled by position below.
_URDU_LETTERS = {
    "ب": "b",
    "پ": "p",
    "ت": "t",
    "ٹ": "t",
    "ث": "s",
    "ج": "j",
    "چ": "C",
    "ح": "h",
    "خ": "x",
    "د": "d",
    "ڈ": "d",
    "ذ": "z",
    "ر": "r",
    "ڑ": "r",
    "ز": "z",
    "ژ": "z",
    "س": "s",
    "ش": "S",
    "ص": "s",
    "ض": "z",
    "ط": "t",
    "ظ": "z",
    "غ": "g",
    "ف": "f",
    "ق": "k",
    "ک": "k",
    "گ": "g",
    "ل": "l",
    "م": "m",
    "ن": "n",
    "ں": "n",
    "ہ": "h",
}
# Arabic forms and Urdu forms of the same letter; NFKC has already turned presentation forms into these.
_URDU_VARIANTS = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ئ": "ی",
        "ۓ": "ے",
        "ك": "ک",
        "ه": "ہ",
        "ة": "ہ",
        "ۀ": "ہ",
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
    }
)
# Diacritics (harakat, shadda, sukun), tatweel, hamza, zero-width joiners and direction marks: never part
# of a spelling. The superscript alef of مصطفیٰ is read first (an alef). A zero-width non-joiner (U+200C)
# is kept: typed between two names written without a space (محمد‌علی), it separates them.
_URDU_DROPPED = re.compile(
    "[\u064b-\u065f\u0670\u0640\u0621\u0654\u0655\u200b\u200d-\u200f\u202a-\u202e\u2066-\u2069]"
)
_URDU_GLIDES = set("اعؤ")  # vowels and glides: a start marker at the start, nothing inside
_URDU_LONG = set("ایے")
_URDU_FINAL = {"ا": "A", "ہ": "A", "ع": "A", "ے": "A", "ی": "I", "و": "U"}
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_TOKEN = re.compile(r"[^\W\d_]+")  # runs of letters (any script); digits and punctuation separate

_LATIN_DIGRAPHS = (
    ("x", "ks"),
    ("kh", "x"),
    ("gh", "g"),
    ("sh", "S"),
    ("ch", "C"),
    ("th", "t"),
    ("dh", "d"),
    ("ph", "f"),
    ("zh", "z"),
    ("ck", "k"),
    ("q", "k"),
    ("c", "k"),
    ("w", "v"),
)
_LATIN_VOWELS = set("aeiou")
_LATIN_FINAL = {"a": "A", "e": "A", "i": "I", "y": "I", "o": "U", "u": "U"}
# Words between names: ul/ud/ur (Zia ul Haq, Siraj ud Din), al, bin …; they say nothing about who it is.
PARTICLES = frozenset({"ul", "ud", "ur", "us", "un", "al", "el", "ad", "as", "bin", "binte", "bint", "ibn"})
_ABD_JOINED = re.compile(r"abd[ue]([lrsnz])(\1?)([a-z]{2,})")  # Abdulrehman, Abdurrehman, Abdullah
_ASSIMILATED = re.compile(r"u([dlrsnz])\1([a-z]{2,})")  # uddin, ullah, urrehman


@cache
def _equivalents() -> dict[str, str]:
    data = tomllib.loads(Path(__file__).with_name("names.toml").read_text(encoding="utf-8"))
    table: dict[str, str] = data["equivalent"]
    return table


def is_urdu(text: str) -> bool:
    """Whether `text` holds Arabic-script (Urdu) letters."""
    return _ARABIC_SCRIPT.search(text) is not None


def tokens(text: str) -> list[str]:
    """The name's words as written (NFKC, diacritics and invisible joiners dropped), in order."""
    text = unicodedata.normalize("NFKC", text).replace("\u0670", "ا")  # مصطفیٰ: the alef it sounds
    return _TOKEN.findall(_URDU_DROPPED.sub("", text))


def _collapse(skeleton: str) -> str:
    return "".join(c for i, c in enumerate(skeleton) if i == 0 or c != skeleton[i - 1])


def _latin_key(word: str) -> str:
    for digraph, letter in _LATIN_DIGRAPHS:
        word = word.replace(digraph, letter)
    start = "A" if word[0] in _LATIN_VOWELS else ""
    body = word.lstrip("aeiou") if start else word
    end = ""
    tail = len(body)
    while tail > 1 and body[tail - 1] in "aeiouyh":
        tail -= 1
    vowels = [c for c in body[tail:] if c != "h"]
    if vowels:  # Shah, Aliya, Ali: the last vowel sound is the ending; a bare final h is a consonant
        end, body = _LATIN_FINAL[vowels[-1]], body[:tail]
    # A y after the first letter is a vowel or a glide (Riaz, Riyaz; Ayesha, Aisha).
    kept = body[:1] if not start else ""
    consonants = kept + "".join(c for c in body[len(kept) :] if c not in _LATIN_VOWELS and c != "y")
    return start + _collapse(consonants) + end


def _urdu_key(word: str) -> str:
    word = word.translate(_URDU_VARIANTS)
    start, first = "", 0
    if word[0] in _URDU_GLIDES:
        start, first = "A", 1
    elif word[0] == "ی":
        start, first = "y", 1
    elif word[0] == "و":
        start, first = "v", 1
    end, last = "", len(word)
    if last - first > 1 and word[-1] in _URDU_FINAL:
        end, last = _URDU_FINAL[word[-1]], last - 1
    body = []
    for i in range(first, last):
        letter = word[i]
        if letter == "و":  # a consonant before a long vowel (Rizwan, Naveed), else a vowel (Yousaf)
            nxt = word[i + 1] if i + 1 < len(word) else ""
            body.append("v" if nxt in _URDU_LONG else "")
        else:
            body.append(_URDU_LETTERS.get(letter, ""))
    return _collapse(start + "".join(body)) + end


def _split(word: str) -> list[str]:
    """A token as the words it is made of: Abdul-joined names, assimilated particles, known spellings."""
    if is_urdu(word):
        word = word.translate(_URDU_VARIANTS)
        if word.startswith("عبد") and len(word) > 3:  # عبدالرحمن: Abdul + Rehman
            rest = word[3:].removeprefix("ال")
            return ["abdul", *_split(rest)] if len(rest) > 1 else ["abdul"]
        return [_equivalents().get(word, word)]
    word = "".join(
        c for c in unicodedata.normalize("NFKD", word.lower()) if "a" <= c <= "z"
    )  # accents dropped (Muḥammad)
    if not word or word in PARTICLES:
        return []
    word = _equivalents().get(word, word)
    joined = _ABD_JOINED.fullmatch(word)
    if joined and word != "abdul":
        letter, doubled, rest = joined.groups()
        # Abdurrehman: the article's l became the doubled r, which belongs to the name that follows.
        return ["abdul", *_split(letter + rest if doubled and rest[0] in _LATIN_VOWELS else rest)]
    assimilated = _ASSIMILATED.fullmatch(word)
    if assimilated:
        return [_equivalents().get(word[2:], word[2:])]
    return [word]


def token_key(word: str) -> str:
    """The key of one word (a canonical spelling from names.toml "=name" is its own key); "" if none."""
    if word.startswith("="):
        return word
    return _urdu_key(word) if is_urdu(word) else _latin_key(word)


def keys(text: str) -> list[str]:
    """The distinct keys of a name's words, in order (single letters and particles give none)."""
    return list(_keys(text))


@lru_cache(maxsize=65_536)  # a city's names repeat: ranking folds the same few thousand again and again
def _keys(text: str) -> tuple[str, ...]:
    words: list[str] = []
    for token in tokens(text):
        if words and words[-1] == "abdul" and is_urdu(token):
            token = token.removeprefix("ال")  # عبد الرحمن: the article belongs to Abdul
        words.extend(_split(token))
    found: list[str] = []
    for word in words:
        key = token_key(word) if len(word) > 1 else ""
        if len(key) > 1 and key not in found:
            found.append(key)
    return tuple(found)


def similarity(query: str, name: str) -> float:
    """How alike two names are, 0 to 1: the share of words whose keys meet (of the longer name), then
    the share of the query's words spelt exactly as written (cheap set arithmetic: it ranks every hit)."""
    query_keys, name_keys = set(_keys(query)), set(_keys(name))
    if not query_keys or not name_keys:
        return 0.0
    by_keys = len(query_keys & name_keys) / max(len(query_keys), len(name_keys))
    query_words = set(_words(query))
    as_written = len(query_words & set(_words(name))) / len(query_words) if query_words else 0.0
    return 0.7 * by_keys + 0.3 * as_written


@lru_cache(maxsize=65_536)
def _words(text: str) -> tuple[str, ...]:
    return tuple(tokens(text.casefold()))
