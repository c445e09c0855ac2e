"""The language of an article, as much as a scorer needs to know: is it English?

Feeds declare a language (``<language>es</language>``, ``xml:lang``) but carry guest articles
in others, and many declare nothing. The text decides where it can: a text mostly in a
non-Latin script is not English; a Latin-script text is the language whose function words it
uses most. A headline without any ("Bitcoin Surges 10%") keeps the declared language, or
English when none is declared.
"""

from __future__ import annotations

import re
import unicodedata

UNDETERMINED = "und"
ENGLISH = "en"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Short function words per language: the set, not any single word, tells them apart.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split(" "))
    for lang, words in {
        "en": "the of and to in is for on as with at by from after its it be are was will has "
        "have this that amid over into than but says could would should what how why about "
        "their been were who which while",
        "es": "el la los las de del y en por para con una un se su al es lo más como",
        "pt": "o os de da do das dos e em para com uma um não mais ao à são",
        "fr": "le les de des et du une un est dans pour sur avec au aux ce qui pas",
        "de": "der die das und ist nicht mit für auf den dem ein eine zu von im",
        "it": "il gli della delle di che e è per con nel non più sono",
        "nl": "het een en van de op voor met niet zijn naar ook",
        "tr": "ve bir bu için ile da de çok olarak daha",
        "id": "yang dan di ke dari untuk dengan ini itu pada akan",
    }.items()
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _lang, _vocab in FUNCTION_WORDS.items():
    for _word in _vocab:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _lang)
_SCRIPTS = (("CJK", "zh"), ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"),
            ("CYRILLIC", "ru"), ("ARABIC", "ar"), ("HEBREW", "he"), ("GREEK", "el"),
            ("DEVANAGARI", "hi"), ("THAI", "th"))  # fmt: skip


def primary(tag: str | None) -> str | None:
    """``"en-US"`` → ``"en"``; blank → None."""
    if not tag or not tag.strip():
        return None
    return tag.strip().replace("_", "-").split("-")[0].lower()[:8] or None


def detect(text: str, declared: str | None = None) -> str:
    """A two-letter code where the text shows one, else ``declared``, else English."""
    hint = primary(declared)
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return hint or UNDETERMINED
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if latin < len(letters) / 2:
        return _script(letters) or (hint if hint != ENGLISH else None) or UNDETERMINED
    evidence = dict.fromkeys(FUNCTION_WORDS, 0.0)
    for word in (w.lower() for w in _WORD.findall(text)):
        shared = _LANGUAGES_OF.get(word, ())
        for lang in shared:  # "de" is Spanish, French, Dutch…: a fifth of a vote each
            evidence[lang] += 1.0 / len(shared)
    default = hint or ENGLISH
    best = max(evidence, key=lambda lang: evidence[lang])
    # Leave the declared language (or English) only on a whole word's worth more evidence.
    if evidence[best] - evidence.get(default, 0.0) < 1.0:
        return default
    return best


def _script(letters: list[str]) -> str | None:
    counts: dict[str, int] = {}
    for c in letters:
        name = unicodedata.name(c, "")
        for marker, code in _SCRIPTS:
            if name.startswith(marker) or f" {marker}" in name[:20]:
                counts[code] = counts.get(code, 0) + 1
                break
    # Japanese writes with kanji too: any kana makes it Japanese.
    if counts.get("ja"):
        return "ja"
    return max(counts, key=lambda k: counts[k]) if counts else None
