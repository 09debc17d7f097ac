"""Cardinal numbers spelled out in every corpus language (0 to 999,999), as the spoken word tokens.

Inverse text normalisation (ITN) is the other direction: the generator keeps both forms of every
number it puts in a sentence, so ``text`` has the spoken words and ``text_itn`` the digits.
"""

from __future__ import annotations

from auricle.errors import ConfigError

MAX_NUMBER = 999_999

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _en(n: int) -> list[str]:
    if n < 20:
        return [_EN_ONES[n]]
    if n < 100:
        return [_EN_TENS[n // 10]] + ([_EN_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_EN_ONES[n // 100], "hundred"] + (_en(n % 100) if n % 100 else [])
    return _en(n // 1000) + ["thousand"] + (_en(n % 1000) if n % 1000 else [])


_DE_ONES = "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn".split()
_DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()


def _de_word(n: int) -> str:
    if n < 20:
        return _DE_ONES[n]
    if n < 100:
        unit = n % 10
        return (("ein" if unit == 1 else _DE_ONES[unit]) + "und" if unit else "") + _DE_TENS[n // 10]
    if n < 1000:
        head = "" if n // 100 == 1 else _DE_ONES[n // 100]
        return head + "hundert" + (_de_word(n % 100) if n % 100 else "")
    thousands = n // 1000
    head = "" if thousands == 1 else _de_word(thousands)
    if head.endswith("eins"):
        head = head[:-1]  # hunderteintausend, not hunderteinstausend
    return head + "tausend" + (_de_word(n % 1000) if n % 1000 else "")


_FR_ONES = (
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
    "dix-sept dix-huit dix-neuf"
).split()
_FR_TENS = "_ _ vingt trente quarante cinquante soixante".split()


def _fr_below_100(n: int, fem: bool) -> list[str]:
    if n < 20:
        return ["une" if (n == 1 and fem) else _FR_ONES[n]]
    tens, unit = divmod(n, 10)
    one = "une" if fem else "un"
    if tens in (7, 9):  # soixante-dix..., quatre-vingt-dix...
        base = "soixante" if tens == 7 else "quatre-vingt"
        rest = n - (60 if tens == 7 else 80)
        if tens == 7 and rest == 11:
            return ["soixante", "et", "onze"]
        return [f"{base}-{_FR_ONES[rest]}"]
    if tens == 8:
        return ["quatre-vingts"] if unit == 0 else [f"quatre-vingt-{one if unit == 1 else _FR_ONES[unit]}"]
    if unit == 0:
        return [_FR_TENS[tens]]
    if unit == 1:
        return [_FR_TENS[tens], "et", one]
    return [f"{_FR_TENS[tens]}-{_FR_ONES[unit]}"]


def _fr(n: int, fem: bool = False, final: bool = True) -> list[str]:
    if n < 100:
        return _fr_below_100(n, fem)
    if n < 1000:
        h, rest = divmod(n, 100)
        head = [] if h == 1 else [_FR_ONES[h]]
        cent = "cents" if (h > 1 and rest == 0 and final) else "cent"
        return head + [cent] + (_fr(rest, fem) if rest else [])
    th, rest = divmod(n, 1000)
    head = [] if th == 1 else _fr(th, False, final=False)
    if head and head[-1] == "quatre-vingts":
        head[-1] = "quatre-vingt"  # no plural s before mille
    return head + ["mille"] + (_fr(rest, fem) if rest else [])


_ES_ONES = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
    "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco "
    "veintiséis veintisiete veintiocho veintinueve"
).split()
_ES_TENS = "_ _ veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_ES_HUNDREDS = "_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos novecientos".split()


def _es_fix_one(word: str, fem: bool, apocope: bool) -> str:
    if word.endswith("uno"):
        if fem:
            return word[:-1] + "a"
        if apocope:
            return "veintiún" if word == "veintiuno" else word[:-1]
    return word


def _es(n: int, fem: bool = False, apocope: bool = True) -> list[str]:
    if n < 30:
        return [_es_fix_one(_ES_ONES[n], fem, apocope)]
    if n < 100:
        tens, unit = divmod(n, 10)
        return [_ES_TENS[tens]] + (["y", _es_fix_one(_ES_ONES[unit], fem, apocope)] if unit else [])
    if n < 1000:
        h, rest = divmod(n, 100)
        if n == 100:
            return ["cien"]
        word = _ES_HUNDREDS[h]
        if fem and h > 1:
            word = word[:-2] + "as"
        return [word] + (_es(rest, fem, apocope) if rest else [])
    th, rest = divmod(n, 1000)
    head = [] if th == 1 else _es(th, fem, apocope=True)
    return head + ["mil"] + (_es(rest, fem, apocope) if rest else [])


_IT_ONES = (
    "zero uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici "
    "sedici diciassette diciotto diciannove"
).split()
_IT_TENS = "_ _ venti trenta quaranta cinquanta sessanta settanta ottanta novanta".split()


def _it_word(n: int) -> str:
    if n < 20:
        return _IT_ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        base = _IT_TENS[tens]
        if unit in (1, 8):
            base = base[:-1]  # ventuno, ventotto
        return base + ("tré" if unit == 3 else _IT_ONES[unit] if unit else "")
    if n < 1000:
        h, rest = divmod(n, 100)
        return ("" if h == 1 else _IT_ONES[h]) + "cento" + (_it_word(rest) if rest else "")
    th, rest = divmod(n, 1000)
    head = "mille" if th == 1 else _it_word(th) + "mila"
    return head + (_it_word(rest) if rest else "")


_ZH_DIGITS = "零一二三四五六七八九"


def _zh_below_10000(n: int, leading: bool) -> str:
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        if unit == "十" and d == 1 and not out and leading:
            out += "十"  # 十二, not 一十二, at the start of a number
        elif d == 2 and unit in ("千", "百") and not out:
            out += "两" + unit
        else:
            out += _ZH_DIGITS[d] + unit
    return out


def _zh(n: int, counting: bool) -> str:
    if n == 0:
        return "零"
    if n == 2:
        return "两" if counting else "二"
    if n < 10000:
        return _zh_below_10000(n, leading=True)
    high, low = divmod(n, 10000)
    text = ("两" if high == 2 else _zh_below_10000(high, leading=True)) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _zh_below_10000(low, leading=False)
    return text


_JA_DIGITS = ["ぜろ", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう"]
_JA_HUNDREDS = [
    "",
    "ひゃく",
    "にひゃく",
    "さんびゃく",
    "よんひゃく",
    "ごひゃく",
    "ろっぴゃく",
    "ななひゃく",
    "はっぴゃく",
    "きゅうひゃく",
]
_JA_THOUSANDS = [
    "",
    "せん",
    "にせん",
    "さんぜん",
    "よんせん",
    "ごせん",
    "ろくせん",
    "ななせん",
    "はっせん",
    "きゅうせん",
]


def _ja_below_10000(n: int) -> str:
    th, h, t, u = n // 1000, n // 100 % 10, n // 10 % 10, n % 10
    tens = "" if t == 0 else ("じゅう" if t == 1 else _JA_DIGITS[t] + "じゅう")
    return _JA_THOUSANDS[th] + _JA_HUNDREDS[h] + tens + (_JA_DIGITS[u] if u else "")


def _ja(n: int) -> str:
    if n == 0:
        return "ぜろ"
    high, low = divmod(n, 10000)
    return (_ja_below_10000(high) + "まん" if high else "") + (_ja_below_10000(low) if low else "")


_KO_DIGITS = "영일이삼사오육칠팔구"


def _ko_below_10000(n: int) -> str:
    out = ""
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        d = n // value % 10
        if d:
            out += ("" if d == 1 and unit else _KO_DIGITS[d]) + unit
    return out


def _ko(n: int) -> str:
    if n == 0:
        return "영"
    high, low = divmod(n, 10000)
    return ((_ko_below_10000(high) if high > 1 else "") + "만" if high else "") + _ko_below_10000(low)


def spell_number(n: int, language: str, feminine: bool = False, counting: bool = True) -> list[str]:
    """``n`` as spoken word tokens in ``language``.

    ``feminine`` selects feminine agreement where the language has it (fr "une", es "una",
    "doscientas"); ``counting`` means the number counts a following noun (zh 两, es apocope
    "veintiún libros"). German and Italian write a number as one word, Chinese, Japanese (kana)
    and Korean (Sino-Korean, hangul) as one token.
    """
    if not 0 <= n <= MAX_NUMBER:
        raise ConfigError(f"number {n} out of range 0..{MAX_NUMBER}")
    if language == "en":
        return _en(n)
    if language == "de":
        return [_de_word(n)]
    if language == "fr":
        return _fr(n, feminine)
    if language == "es":
        return _es(n, feminine, apocope=counting)
    if language == "it":
        return [_it_word(n)]
    if language == "zh":
        return [_zh(n, counting)]
    if language == "ja":
        return [_ja(n)]
    if language == "ko":
        return [_ko(n)]
    raise ConfigError(f"no number words for language {language!r}; valid: en de fr es it zh ja ko")
