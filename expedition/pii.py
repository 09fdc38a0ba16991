"""Personal data in UK public-sector text: what it looks like, and redaction.

One place for the patterns that profiling (suspected personal data), the text step (redaction
before modelling), the disclosure gate (nothing identifying is published) and `pack verify` all
use. What is found (each a *kind*):

``email``
    addresses, and addresses written to dodge a filter: ``jo.bloggs(at)nhs.net``,
    ``jo [at] nhs [dot] net``, ``jo dot bloggs at nhs dot net``.
``nhs_number``
    ten digits grouped 3-3-4 with any separators (spaces, dots, dashes, slashes) or none, kept
    only when the modulus-11 check digit holds, so an arbitrary ten-digit number is not flagged.
``ni_number``
    National Insurance numbers with any spacing, in either case.
``phone``
    UK numbers: a leading 0, +44 or 0044 (with an optional "(0)"), then nine or ten digits
    with any separators between them.
``date_of_birth``
    a date in any common format (01/02/2010, 2011-04-03, 3rd March 2012, March 3 2012, ...)
    after "DOB", "D.O.B.", "date of birth", "birth date" or "born". Dates without such a word
    (event dates) are left alone.
``postcode``
    UK postcodes with any spacing (``CM1  1AA``, ``CM11AA``), written in one case; not inside a
    file name or path (``work.a434LA``).
``name``
    a whole name after a title (Mr, Mrs, Ms, Miss, Mx, Dr, Prof, Cllr, PC, ... in any case:
    "MR SMITH", "mrs mcdonald"), after "called", "named", "known as", "aka" or "née", and a
    known given name followed by a surname without any such word ("Sarah-Jane McDonald"). A
    name is a whole token, so Mc/Mac/O'/D' names, DeVito and hyphenated names are taken whole.
    `name_value` says whether a short text (a table label) is *entirely* a person's name, which
    also covers "SMITH, John", "J. Smith" and a single "McDonald"; `scan` applies it to each
    line of a text, so a label, a cell or a line of a list that is a name is found.

Where the given names and surnames come from, and why
    Faker's person providers (the ``en_GB`` lists come from the Office for National Statistics;
    ``en_US`` and ``en`` from the US census and social-security records; ``en_IE``, ``en_IN``,
    ``en_PK``, ``en_NG`` and ``pl_PL`` add the names of the UK's larger communities): about
    8,100 given names and 8,200 surnames. Faker is MIT-licensed, released every few weeks, pure
    Python, and its lists are plain tuples inside the wheel, so nothing is fetched at run time;
    they are imported the first time a text could hold a name (about 0.1 s, once per process).
    Considered and not chosen: Presidio's recognisers (``presidio-analyzer``) cannot be imported
    without spaCy (its package ``__init__`` builds the analyzer engine), its person recogniser
    needs a downloaded spaCy model, and its UK patterns are what this module had (NHS numbers
    with spaces or dashes only, no postcodes, names only through the NLP model); ``names-dataset``
    is built from leaked social-network profiles and needs gigabytes of memory; ``names`` (the
    1990 US census lists) has not been released since 2013; ``gender-guesser`` is GPL and
    unmaintained. Phone numbers are not parsed with ``phonenumbers``: its matcher keeps only
    numbers in allocated ranges (the Ofcom drama range 07700 900xxx is not), and accepting
    "possible" numbers makes it flag seven-digit counts; the tests use it as an oracle instead.

    Names in the lists that are also common words or places are the price of recall: a given
    name followed by a surname is not taken as a name when the surname is a word that ends a
    place or an organisation (`PLACE_WORDS`: Victoria *Park*, Mark *Hall*, Kent *Police*), nor
    when the name runs on into one (Dorothy Sayers *Drive*), so "Sarah Hall" in running text is
    found only with a title or a context word ("Mrs Hall", "called Sarah Hall"). Known false
    alarms: a title before a capitalised word that is not a name ("Ms Word") and a given name
    before a surname that is also a word ("May Day").

Linear time
    Every pattern is written for Python's backtracking engine with bounded repeats only (no
    ``+``, ``*`` or ``{n,}``; `tests/test_pii_linear.py` checks the parsed patterns), runs of
    letters are possessive where what follows cannot be a letter, and each pattern runs only
    when a text holds what its matches need (a digit, an "@", ...). So the work at each
    position is bounded and a scan is linear in the length of the text. Names are found by one
    pass that stops only where a name can start (a capital, a title, a context word) and reads
    a dozen words from there. ``bench/bench_pii.py`` measures 25-250 KB hostile cells.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import NamedTuple

# --------------------------------------------------------------------------- building blocks

#: separators people put between the digits of a number (space, tab, no-break space, dots,
#: dashes of every kind, slashes, underscores, zero-width space)
_SEP = r"[ \t.\-/_\u00a0\u2010-\u2015\u2212\u200b]"
_LETTER = r"[^\W\d_]"

_POSTCODE = (
    r"(?<![\w./\\@-])"
    r"(?:GIR[ \t\u00a0]{0,3}0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]?[ \t\u00a0]{0,3}"
    r"[0-9][ABD-HJLNP-UW-Z]{2})"
    r"(?![\w/\\@])"
)
_NHS = rf"(?<![\w.,])\d{{3}}{_SEP}{{0,3}}\d{{3}}{_SEP}{{0,3}}\d{{4}}(?!\w|[.,]\d)"
_NINO_BODY = (
    r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    rf"{_SEP}{{0,2}}\d{{2}}{_SEP}{{0,2}}\d{{2}}{_SEP}{{0,2}}\d{{2}}"
)
_NINO = rf"(?<![A-Za-z0-9]){_NINO_BODY}{_SEP}{{0,2}}[A-D](?![A-Za-z0-9])"
#: without its letter, when the text says it is one ("NI number: AB 12 34 56")
_NINO_IN_CONTEXT = (
    r"\b(?:NI|NINO|N\.I\.|national[ \t]{1,3}insurance)(?:[ \t]{1,3}(?:number|no\.?|num))?"
    rf"[ \t:#=\-]{{1,4}}({_NINO_BODY})(?![A-Za-z0-9])"
)
_EMAIL = (
    r"[\w.%+'\-]{1,64}+[@\uff20][A-Za-z0-9\-]{1,63}+(?:\.[A-Za-z0-9\-]{1,63}+){0,8}"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_OPEN = r"[(\[{<]"
_CLOSE = r"[)\]}>]"
_AT = (
    rf"(?:[ \t]{{0,3}}{_OPEN}[ \t]{{0,2}}(?:at|@)[ \t]{{0,2}}{_CLOSE}[ \t]{{0,3}}"
    r"|[ \t]{1,3}at[ \t]{1,3})"
)
_DOT = rf"(?:[ \t]{{0,3}}{_OPEN}[ \t]{{0,2}}(?:dot|\.)[ \t]{{0,2}}{_CLOSE}[ \t]{{0,3}}|[ \t]{{1,3}}dot[ \t]{{1,3}}|\.)"
#: the endings an obfuscated address must have (a plain "@" address may end in anything)
_TLDS = (
    "com|net|org|uk|gov|nhs|ac|sch|police|mod|edu|info|biz|io|me|eu|co|ie|scot|wales|cymru|"
    "london|email|online|mail|de|fr|es|it|nl|pl|in|us|ca|au"
)
_OBFUSCATED_EMAIL = (
    rf"(?<![\w.%+\-])[\w%+\-]{{1,64}}+(?:{_DOT}[\w%+\-]{{1,64}}+){{0,4}}"
    rf"{_AT}[\w\-]{{1,63}}+(?:{_DOT}[\w\-]{{1,63}}+){{0,5}}{_DOT}(?:{_TLDS})(?![\w\-])"
)
_PHONE_SEP = r"[ \t.\-/()_\u00a0\u2010-\u2015\u2212\u200b]"
_PHONE = (
    r"(?<![\w+.,/])"
    rf"(?:(?:\+|\b00){_PHONE_SEP}{{0,2}}44{_PHONE_SEP}{{0,3}}(?:\(0\){_PHONE_SEP}{{0,3}})?"
    r"|\(0|\b0)"
    rf"[1-9](?:{_PHONE_SEP}{{0,3}}\d){{8,9}}(?!\w|[.,]\d)"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_DATE = (
    r"(?:\d{1,2}[ \t]{0,2}[/.\-][ \t]{0,2}\d{1,2}[ \t]{0,2}[/.\-][ \t]{0,2}\d{2,4}"
    r"|\d{1,2}[ \t]\d{1,2}[ \t]\d{4}"
    r"|\d{4}[ \t]{0,2}[/.\-][ \t]{0,2}\d{1,2}[ \t]{0,2}[/.\-][ \t]{0,2}\d{1,2}"
    rf"|{_DAY}(?:[ \t]{{1,2}}of)?[ \t,\-/]{{1,3}}{_MONTH}[ \t,\-/]{{1,3}}(?:\d{{4}}|'?\d{{2}})"
    rf"|{_MONTH}[ \t]{{1,2}}{_DAY},?[ \t]{{1,2}}(?:\d{{4}}|'?\d{{2}})"
    r"|\d{8})(?!\d)"
)
_DOB_CONTEXT = (
    r"(?:\bd[ \t]{0,1}\.?[ \t]{0,1}o[ \t]{0,1}\.?[ \t]{0,1}b\b\.?|\bdate[ \t]{1,3}of[ \t]{1,3}birth\b"
    r"|\bbirth[ \t_\-]{0,2}date\b|\bbirthday\b|\bborn\b)"
)
_DOB = (
    rf"{_DOB_CONTEXT}(?:[ \t:;,=\-–(]{{0,6}}(?:on[ \t]{{1,3}})?(?:the[ \t]{{1,3}})?|[ \t]is[ \t])"
    rf"({_DATE})"
)


def nhs_number_valid(text: str) -> bool:
    """The NHS number modulus-11 check digit."""
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) != 10:
        return False
    total = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == digits[9]


def _one_case(text: str) -> bool:
    """Letters all upper case or all lower case ("CM1 1AA", "cm1 1aa"; not "a434LA")."""
    letters = [c for c in text if c.isalpha()]
    return all(c.isupper() for c in letters) or all(c.islower() for c in letters)


def _obfuscation_plain(text: str) -> bool:
    """An address written with a plain " at " is taken only when it cannot be a sentence
    ("visit us at www.essex.gov.uk"): its user part has a dot, digit or underscore, or its
    domain is spelt with "dot"."""
    lowered = text.casefold()
    if re.search(_OPEN + r"[ \t]{0,2}(?:at|@)", lowered):
        return True
    user = re.split(r"[ \t]at[ \t]", lowered, maxsplit=1)[0]
    if re.search(r"[.\d_+]|[ \t]dot[ \t]|" + _OPEN, user):
        return True
    domain = lowered[len(user):]
    return bool(re.search(r"[ \t]dot[ \t]|" + _OPEN, domain))


@dataclass(frozen=True)
class Pattern:
    name: str
    label: str
    regex: re.Pattern[str]
    accept: Callable[[str], bool] | None = None
    #: cheap tests a text must pass before the regex is run (what any match must contain)
    needs: tuple[re.Pattern[str], ...] = ()
    #: the group that is the personal data (the rest of the match is context that stays)
    group: int = 0

    def finditer(self, text: str, seen: dict[re.Pattern[str], bool] | None = None) -> Iterator[re.Match[str]]:
        """Matches in *text*; *seen* keeps what each need found, for the next pattern."""
        for need in self.needs:
            if seen is None:
                if not need.search(text):
                    return
                continue
            if need not in seen:
                seen[need] = need.search(text) is not None
            if not seen[need]:
                return
        for match in self.regex.finditer(text):
            if self.accept is None or self.accept(match.group(0)):
                yield match


# what each pattern needs somewhere in a text before it is worth running (each a necessary
# condition of the pattern, so the result is the same, only quicker on ordinary prose)
_HAS_AT = re.compile("[@\uff20]")
_HAS_AT_WORD = re.compile(rf"{_OPEN}[ \t]{{0,2}}(?:at|@)|[ \t]at[ \t]", re.IGNORECASE)
_HAS_THREE_DIGITS = re.compile(r"\d{3}")
_HAS_TWO_DIGITS = re.compile(r"\d\d")
_HAS_INWARD_CODE = re.compile(r"\d[A-Za-z]{2}")
_HAS_BIRTH = re.compile(_DOB_CONTEXT, re.IGNORECASE)

PATTERNS: list[Pattern] = [
    Pattern("email", "e-mail address", re.compile(_EMAIL), needs=(_HAS_AT,)),
    Pattern("email", "e-mail address", re.compile(_OBFUSCATED_EMAIL, re.IGNORECASE),
            _obfuscation_plain, needs=(_HAS_AT_WORD,)),
    Pattern("nhs_number", "NHS number", re.compile(_NHS), nhs_number_valid, needs=(_HAS_THREE_DIGITS,)),
    Pattern("ni_number", "National Insurance number", re.compile(_NINO, re.IGNORECASE),
            needs=(_HAS_TWO_DIGITS,)),
    Pattern("ni_number", "National Insurance number", re.compile(_NINO_IN_CONTEXT, re.IGNORECASE),
            needs=(_HAS_TWO_DIGITS,), group=1),
    Pattern("date_of_birth", "date of birth", re.compile(_DOB, re.IGNORECASE),
            needs=(_HAS_TWO_DIGITS, _HAS_BIRTH), group=1),
    Pattern("phone", "UK phone number", re.compile(_PHONE), needs=(_HAS_TWO_DIGITS,)),
    Pattern("postcode", "UK postcode", re.compile(_POSTCODE, re.IGNORECASE), _one_case,
            needs=(_HAS_INWARD_CODE,)),
]

#: what every pattern's match holds at least one of: a digit, an "@", or "at" on its own
_ANY_PATTERN = re.compile(r"[\d@\uff20]|(?i:[ \t(\[{<]at[ \t)\]}>])")

KINDS: dict[str, str] = {p.name: p.label for p in PATTERNS} | {"name": "person's name"}

# --------------------------------------------------------------------------- names

#: Titles before a name. Those in the first set are taken in any case ("mr", "MR", "Mr.");
#: the second only capitalised and before a capitalised word that does not end a place's name,
#: since they are also words ("miss the bus", "Lord Street"); the police ranks only in capitals.
_TITLES_ANY_CASE = frozenset({"mr", "mrs", "ms", "mx", "dr", "cllr", "prof", "revd"})
_TITLES_CAPITALISED = frozenset({"miss", "master", "sir", "dame", "lady", "lord", "professor",
                                 "rev", "reverend", "councillor", "sgt", "sergeant", "insp",
                                 "inspector", "fr"})
_TITLES_UPPER = frozenset({"pc", "dc", "ds", "di", "pcso", "dci", "dsi"})
#: Words after which a capitalised name follows ("a boy called Jamie"); case-insensitive
#: themselves, but the name after them must be capitalised ("called back" is not a name).
_CONTEXT_WORDS = frozenset({"called", "named", "aka", "a.k.a", "née", "nee", "alias", "surnamed"})
_CONTEXT_PAIRS = frozenset({("known", "as"), ("name", "is"), ("name", "was"), ("names", "are")})
#: Lower-case words inside a name ("Jan van der Berg", "Maria de la Cruz").
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "du", "la", "le", "del",
                        "della", "des", "dos", "das", "bin", "binti", "ibn", "al", "el", "ap",
                        "ní", "nic", "ó"})
#: Name prefixes written as a word of their own ("Mc Donald", "O Neill", "Mac Bride").
_PREFIX_WORDS = frozenset({"mc", "mac", "o", "fitz"})
#: A last word that ends the name of a place or an organisation rather than a person's name
#: (Victoria Park, Mark Hall, Kent Police): a given name before it is not taken as a name.
PLACE_WORDS = frozenset("""
road rd street st lane ln avenue ave way close drive court place square gardens garden terrace
crescent grove row walk mews hill hills park parks green wood woods field fields heath common
cross bridge gate gates end hall church chapel abbey castle tower house lodge manor farm mill
mills well wells brook brooks ford marsh moor vale dale valley ridge rise mount bay harbour quay
wharf dock docks station airport hospital surgery school academy college university centre
center police constabulary council borough district county city town village ward market north
south east west central trust services service group team unit limited ltd cathedral palace
circus junction estate forest island sands beach point head port water waters lake rock united
rovers wanderers athletic fc club society association hotel inn arms theatre museum library
gallery cinema stadium arena shopping retail industrial business partnership chase parade
approach boulevard broadway causeway embankment esplanade hollow meadow meadows orchard paddock
passage path promenade yard view reach grange croft glade pastures precinct bypass alley
wharf upper lower great little old new saint
""".split())
_STOP_AFTER_TITLE = frozenset({"and", "or", "the", "of", "to", "in", "on", "at", "for", "a", "an"})

#: a word: letters, with apostrophes and hyphens inside (O'Neil, Sarah-Jane), and a full stop
#: after it kept (initials, titles, the end of a sentence)
_WORD = re.compile(r"[^\W\d_]{1,40}+(?:['’\-\u2010\u2011][^\W\d_]{1,40}+){0,4}+\.?")
_SHAPED_PREFIXES = ("Mc", "Mac", "Fitz", "De", "Di", "Da", "Du", "La", "Le", "Van", "Von")
#: the same shapes for Polars' engine (a little wider: it only screens)
_SHAPED_SCREEN = r"(?:Mc|Mac|Fitz|De|Di|Da|Du|La|Le|Van|Von)\p{Uppercase}\w|[OD]['’]\p{Uppercase}|MC\p{Uppercase}"
_SPACE = frozenset(" \t\u00a0")
#: a digit, or a line break or other space than a space or tab: not a value that is a name
_NOT_A_NAME = re.compile(r"\d|[^\S \t\u00a0]")
_LOWER_SHAPED = re.compile(r"(?:mc|mac|o['’])[^\W\d_]{2}")


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames), case-folded, from Faker's person providers (see the module
    docstring for the choice). Empty if Faker is missing: then titles and context words
    still find names, and a given name with a surname shaped like McDonald or O'Neil."""
    try:
        from faker.providers.person import en, en_GB, en_IE, en_IN, en_NG, en_PK, en_US, pl_PL
    except ImportError:  # pragma: no cover - faker is a dependency
        return frozenset(), frozenset()
    given: set[str] = set()
    surnames: set[str] = set()
    for module in (en_GB, en_US, en, en_IE, en_IN, en_PK, en_NG, pl_PL):
        provider = module.Provider
        for attr in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            values = getattr(provider, attr, None)
            if values:
                given.update(_folded(v.casefold()) for v in values if " " not in v)
        for attr in ("last_names", "male_last_names", "female_last_names", "unisex_last_names",
                     "last_names_male", "last_names_female"):
            values = getattr(provider, attr, None)
            if values:
                surnames.update(_folded(v.casefold()) for v in values if " " not in v)
    # Polish surnames in -ski/-cki/-dzki have a feminine form in -ska/-cka/-dzka
    surnames.update(s[:-1] + "a" for s in list(surnames) if s.endswith(("ski", "cki", "dzki")))
    surnames.discard("doe")
    return frozenset(given), frozenset(surnames)


def _bare(token: str) -> str:
    return token.rstrip(".").casefold()


def _folded(word: str) -> str:
    """*word* without accents ("zoë" → "zoe"), as the name lists mostly write them."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def _initial(token: str) -> bool:
    """"J", "J." (a single capital, perhaps with a full stop)."""
    bare = token.rstrip(".")
    return len(bare) == 1 and bare.isupper()


@lru_cache(maxsize=65536)
def _shaped_surname(token: str) -> bool:
    """Written the way only surnames are: McDonald, MacBride, McŁabaj, O'Neil, D'Souza, DeVito,
    and in capitals MCDONALD, O'NEIL."""
    if token[:2] in {"O'", "O’", "D'", "D’"}:
        return len(token) > 2 and token[2].isupper()
    if token.isupper():
        return token.startswith("MC") and len(token) >= 4 and token[2:].isalpha()
    for prefix in _SHAPED_PREFIXES:
        rest = token[len(prefix) :]
        if token.startswith(prefix) and len(rest) >= 2 and rest[0].isupper() and rest[1].isalpha() \
                and not rest[1].isupper():
            return True
    return False


def _parts(token: str) -> list[str]:
    return [_folded(p) for p in re.split(r"[\-\u2010\u2011]", _bare(token)) if p]


@lru_cache(maxsize=65536)
def _is_given(token: str) -> bool:
    """A known given name (each part of a hyphenated one: Sarah-Jane)."""
    given, _ = name_lists()
    parts = _parts(token)
    return bool(parts) and all(p in given for p in parts)


@lru_cache(maxsize=65536)
def _is_surname(token: str) -> bool:
    """A known surname (or a part of a hyphenated one), or one shaped like a surname; never a
    word that ends a place's name."""
    if _bare(token) in PLACE_WORDS:
        return False
    if _shaped_surname(token):
        return True
    _, surnames = name_lists()
    return any(p in surnames for p in _parts(token))


class _Token(NamedTuple):
    text: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(0), *m.span()) for m in _WORD.finditer(text)]


def _adjacent(text: str, a: _Token, b: _Token) -> bool:
    """*b* follows *a* with one to three spaces between, in the same sentence (a full stop
    after *a* ends the sentence unless *a* is an initial or a title)."""
    if not 0 < b.start - a.end <= 3 or text[a.end : b.start].strip(" \t\u00a0"):
        return False
    return a.text[-1] != "." or _initial(a.text) or _title_kind(a.text) is not None


@lru_cache(maxsize=65536)
def _title_kind(token: str) -> str | None:
    """"any" for a title taken in any case, "capitalised" for one taken only capitalised."""
    bare = _bare(token)
    if bare in _TITLES_ANY_CASE:
        return "any"
    if bare in _TITLES_CAPITALISED and _capitalised(token):
        return "capitalised"
    if bare in _TITLES_UPPER and token.rstrip(".").isupper():
        return "capitalised"
    return None


def _continue_name(text: str, tokens: list[_Token], j: int, *, after_given: bool, upper: bool,
                   lower: bool = False) -> int:
    """Index one past the last token of a name whose tokens so far end at *tokens[j-1]*.

    After a given name or an initial, the next capitalised token is the surname (or a middle
    name, and then the next one is); particles ("van der") lead on to the next capitalised
    token. After a surname only another known name continues it. In capitals (``upper``),
    only capitalised tokens continue.
    """
    count = 1
    while j < len(tokens) and count < 5 and _adjacent(text, tokens[j - 1], tokens[j]):
        token = tokens[j]
        bare = _bare(token.text)
        following = tokens[j + 1] if j + 1 < len(tokens) and _adjacent(text, token, tokens[j + 1]) else None
        has_next = following is not None and _capitalised(following.text)
        if bare in _PARTICLES and not token.text.isupper() and following is not None \
                and (has_next or _bare(following.text) in _PARTICLES):
            j += 1
            after_given = True
            continue
        if bare in _PREFIX_WORDS and _capitalised(token.text) and has_next:
            j += 2
            after_given = False
            count += 1
            continue
        if lower and after_given and token.text.islower() and (
                _is_surname(token.text) or _LOWER_SHAPED.match(token.text)):
            # all in lower case ("mrs sarah jones", "mr jo mcdonald"): a known surname
            j += 1
            count += 1
            after_given = False
            continue
        if not _capitalised(token.text) or (upper and not token.text.isupper()):
            break
        if _initial(token.text):
            j += 1
            after_given = True
        elif after_given:
            if bare in PLACE_WORDS:
                break
            j += 1
            after_given = _is_given(token.text) and not _is_surname(token.text)
        elif _is_given(token.text) or _is_surname(token.text):
            j += 1
        else:
            break
        count += 1
    return j


def _after_title(text: str, tokens: list[_Token], i: int) -> tuple[int, int] | None:
    """(index of the first name token, index past the name) when *tokens[i]* is a title
    followed by a name."""
    kind = _title_kind(tokens[i].text)
    if kind is None or i + 1 >= len(tokens):
        return None
    title, first = tokens[i], tokens[i + 1]
    if not (_adjacent(text, title, first) or (title.text.endswith(".") and first.start == title.end)):
        return None
    bare = _bare(first.text)
    if bare in _PARTICLES and not first.text.isupper():
        # "Mr van der Berg": particles, then the capitalised name
        end = _continue_name(text, tokens, i + 1, after_given=True, upper=False)
        if end > i + 2:
            return i + 1, end
        if kind == "any" and title.text.islower():
            # all in lower case ("mr de la cruz", "mr della mcdonald"): particles, then a word
            j = i + 1
            while j + 1 < len(tokens) and _bare(tokens[j].text) in _PARTICLES \
                    and _adjacent(text, tokens[j], tokens[j + 1]):
                j += 1
            last = tokens[j]
            if j > i + 1 or _bare(last.text) not in _PARTICLES:
                bare_last = _bare(last.text)
                if last.text.islower() and bare_last not in _PARTICLES \
                        and bare_last not in _STOP_AFTER_TITLE and bare_last not in PLACE_WORDS:
                    return i + 1, j + 1
        if not _capitalised(first.text):
            return None
        # "Mr Das at home": a capitalised particle with no name after it is the surname
    if bare in _STOP_AFTER_TITLE and not _initial(first.text):
        return None
    if kind == "capitalised" and (not _capitalised(first.text) or bare in PLACE_WORDS):
        return None
    if not _capitalised(first.text) and _capitalised(title.text) and not first.text.islower():
        return None
    upper = title.text.isupper() and first.text.isupper() and len(first.text.rstrip(".")) > 1
    if bare in _PREFIX_WORDS and i + 2 < len(tokens) and _adjacent(text, first, tokens[i + 2]):
        return i + 1, _continue_name(text, tokens, i + 3, after_given=False, upper=upper)
    # after a given name, an initial, or a word the lists do not know ("Mrs Zoë Brontë",
    # "Mr Wojciech Nowak"), the next capitalised word is part of the name too
    after_given = _initial(first.text) or _is_given(first.text) or not (
        _is_surname(first.text) or _bare(first.text) in PLACE_WORDS)
    end = _continue_name(text, tokens, i + 2, after_given=after_given, upper=upper,
                         lower=first.text.islower())
    if kind == "capitalised" and _names_a_place(text, tokens, end - 1):
        return None
    return i + 1, end


def _after_context(text: str, tokens: list[_Token], i: int) -> tuple[int, int] | None:
    """The same after "called", "named", "known as", ...: the name must be capitalised."""
    word = tokens[i].text.casefold()
    if word in _CONTEXT_WORDS:
        first = i + 1
    elif word == "a." and i + 2 < len(tokens) and [t.text.casefold() for t in tokens[i + 1 : i + 3]] \
            == ["k.", "a."] and tokens[i + 1].start == tokens[i].end and tokens[i + 2].start == tokens[i + 1].end:
        first = i + 3  # "a.k.a."
    elif i + 1 < len(tokens) and (word, tokens[i + 1].text.casefold()) in _CONTEXT_PAIRS \
            and _adjacent(text, tokens[i], tokens[i + 1]):
        first = i + 2
    else:
        return None
    if first >= len(tokens) or not _capitalised(tokens[first].text):
        return None
    gap = text[tokens[first - 1].end : tokens[first].start]
    if not 0 < len(gap) <= 4 or any(c not in _SPACE and c != ":" for c in gap):
        return None
    upper = tokens[first].text.isupper() and len(tokens[first].text.rstrip(".")) > 1
    return first, _continue_name(text, tokens, first + 1, after_given=True, upper=upper)


def _without_context(text: str, tokens: list[_Token], i: int) -> int | None:
    """Index past a name with no title or context word: a known given name (then perhaps
    more given names or initials, and particles) and a known or McDonald-shaped surname."""
    n = len(tokens)
    first = tokens[i].text
    if not (_capitalised(first) and len(first.rstrip(".")) > 1 and _is_given(first)):
        return None
    j = i + 1
    while j < i + 3 and j + 1 < n and _adjacent(text, tokens[j - 1], tokens[j]) \
            and _capitalised(tokens[j].text) \
            and (_initial(tokens[j].text) or _is_given(tokens[j].text)) \
            and _adjacent(text, tokens[j], tokens[j + 1]) and _capitalised(tokens[j + 1].text):
        j += 1
    while j + 1 < n and _bare(tokens[j].text) in _PARTICLES and not tokens[j].text.isupper() \
            and _adjacent(text, tokens[j - 1], tokens[j]):
        j += 1
    if j >= n or not _adjacent(text, tokens[j - 1], tokens[j]):
        return None
    surname = tokens[j].text
    if not _capitalised(surname) or len(surname.rstrip(".")) < 2:
        return None
    if _bare(first) in PLACE_WORDS and _bare(surname) in PLACE_WORDS and not _shaped_surname(surname):
        return None  # "North Wall", "West Chase"; but "Brook McDonald", "Chase Abernathy" are names
    if first.isupper() and not surname.isupper():
        return None
    if _names_a_place(text, tokens, j):
        return None
    return j + 1 if _is_surname(surname) else None


def _names_a_place(text: str, tokens: list[_Token], j: int) -> bool:
    """Whether the name ending at *tokens[j]* goes on into the name of a place or organisation
    ("Dorothy Sayers Drive", "Sir Walter Raleigh Drive", "John Lewis Partnership")."""
    if j + 1 >= len(tokens) or tokens[j].text.endswith("."):
        return False
    after = tokens[j + 1]
    return _adjacent(text, tokens[j], after) and _capitalised(after.text) and _bare(after.text) in PLACE_WORDS


#: the words in lower case that can start a name's match (titles, context words)
_LOWER_STARTS = frozenset(_TITLES_ANY_CASE | {t + "." for t in _TITLES_ANY_CASE} | _CONTEXT_WORDS
                          | {a for a, _ in _CONTEXT_PAIRS} | {"a."})


#: words read after a place where a name can start: a title, five names, a word after them
_LOOKAHEAD = 12
#: a capitalised word's first letter (or a non-ASCII lower-case one, which the code then skips)
_CAPITAL = re.compile(r"(?<![^\W\d_'’\-])[^\W\d_a-z]")
_START = re.compile(
    r"(?<![^\W\d_'’\-])(?:[^\W\d_a-z]|(?i:(?:"
    + "|".join(sorted((re.escape(w.rstrip(".")) for w in _LOWER_STARTS if w != "a."), key=len, reverse=True))
    + r"|a\.k\.a)(?![^\W\d_])))"
)


def _name_end(token: _Token) -> int:
    """Where a name ending in *token* ends: a full stop after a word ends the sentence."""
    if token.text.endswith(".") and not _initial(token.text):
        return token.end - 1
    return token.end


def _find_names(text: str) -> list[tuple[int, int, int]]:
    """(start of the match, start of the name, end) of each name in *text*.

    Only where a name can start (a capitalised word, a title, a context word: `_START`, one
    pass of the regular-expression engine) are the next dozen words read, so ordinary prose
    costs little and a text of capitals is still read about twice, not a dozen times.
    """
    found: list[tuple[int, int, int]] = []
    window: list[_Token] = []
    where: dict[int, int] = {}
    words: Iterator[re.Match[str]] = iter(())

    def pull(count: int) -> None:
        for m in islice(words, count):
            where[m.start()] = len(window)
            window.append(_Token(m.group(0), *m.span()))

    starts = _START if _has_name_word(text) else _CAPITAL
    pos = 0
    while True:
        start = starts.search(text, pos)
        if start is None:
            return found
        at = start.start()
        first = _WORD.match(text, at)
        if first is None:
            pos = start.end()
            continue
        word = first.group(0)
        if _title_kind(word) is None and word.casefold() not in _LOWER_STARTS and not (
                word[0].isupper() and len(word) > 1 and _is_given(word)):
            pos = first.end()  # no title, context word or given name: no name starts here
            continue
        k = where.get(at)
        if k is None and window and window[-1].start < at <= window[-1].end + 120:
            # close to the words read so far: read on to it (dense capitals are read once)
            while window[-1].start < at:
                before = len(window)
                pull(_LOOKAHEAD)
                if len(window) == before:
                    break
            k = where.get(at)
        if k is None:
            # far on: start reading again there
            words = _WORD.finditer(text, at)
            window, where = [], {}
            pull(2 * _LOOKAHEAD)
            k = where.get(at)
            if k is None:
                pos = start.end()
                continue
        if k > 256:
            # drop the words left behind, so a long text keeps a short list
            window = window[k:]
            where = {t.start: n for n, t in enumerate(window)}
            k = 0
        if len(window) - k < _LOOKAHEAD:
            pull(2 * _LOOKAHEAD)
        tokens = window[k : k + _LOOKAHEAD]
        word = tokens[0].text
        if not word[0].isupper() and word.casefold() not in _LOWER_STARTS:
            pos = tokens[0].end
            continue
        hit = _after_title(text, tokens, 0) or _after_context(text, tokens, 0)
        if hit is not None:
            first, end = hit
            found.append((tokens[0].start, tokens[first].start, _name_end(tokens[end - 1])))
            pos = tokens[end - 1].end
            continue
        end = _without_context(text, tokens, 0)
        if end is not None:
            found.append((tokens[0].start, tokens[0].start, _name_end(tokens[end - 1])))
            pos = tokens[end - 1].end
            continue
        pos = tokens[0].end


def name_value(value: str) -> bool:
    """Whether *value* (a table label, a cell) is entirely a person's name.

    Distinct from finding names inside text: a label has no sentence around it, so the forms a
    register writes are accepted as well — "SMITH, John", "Smith, J.", "J. Smith",
    "Sarah-Jane McDonald", "Mrs McDonald" — and a single word only when it is shaped like a
    surname ("McDonald", "O'Neil"), so "Victoria", "Kent" or "Jordan" never is, nor a given
    name before a word that ends a place (Victoria Park, Kent Police).
    """
    text = value.strip(" \t\u00a0")
    if not text or len(text) > 80 or len(text.split()) > 5 or _NOT_A_NAME.search(text):
        return False
    if "," in text:
        # "SMITH, John", "McDonald, Sarah-Jane", "Smith, J."
        head, _, tail = text.partition(",")
        surname, rest = head.split(), tail.split()
        if not surname or not rest or len(surname) > 2 or len(rest) > 3 or "," in tail:
            return False
        last = surname[-1]
        if not _capitalised(last) or not _is_surname(last):
            return False
        return all(_initial(t) or (_capitalised(t) and _is_given(t)) for t in rest)
    tokens = _tokens(text)
    words = text.split()
    if len(words) == 1 and len(tokens) == 1:
        # one word is a name only when written as only surnames are: McDonald, O'Neil, DeVito
        return _shaped_surname(text) and _bare(text) not in PLACE_WORDS
    if len(words) < 2 or len(words) > 5 or len(tokens) != len(words):
        return False
    if _after_title(text, tokens, 0) == (1, len(tokens)):
        return True
    if not all(_capitalised(t.text) or _bare(t.text) in _PARTICLES for t in tokens):
        return False
    if _without_context(text, tokens, 0) == len(tokens):
        return True
    if all(_initial(t.text) for t in tokens[:-1]):
        # "J. Smith", "A B Jones"
        return _is_surname(tokens[-1].text) and len(tokens[-1].text) > 1
    # a given name before a surname the lists do not hold: only when the given part is
    # unmistakable (hyphenated, or two given names), as in "Sarah-Jane Wojciechowska"
    last, firsts = tokens[-1].text, [t.text for t in tokens[:-1] if _bare(t.text) not in _PARTICLES]
    if _bare(last) in PLACE_WORDS or _is_given(last) or not firsts:
        return False
    if not all(_is_given(t) for t in firsts):
        return False
    return len(firsts) >= 2 or "-" in firsts[0]


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class Match:
    """A piece of personal data in a text: ``text[start:end]``, of which the first *head*
    characters are context that redaction keeps ("Mr ", "DOB: ")."""

    kind: str
    start: int
    end: int
    head: int = 0


def scan(text: str) -> list[Match]:
    """Every personal-data match in *text*, earliest first, overlaps resolved to the first
    (the longer where two start together)."""
    if len(text) <= _CACHED_LENGTH:  # labels and sentences repeat across a pack's tables
        return list(_scan_short(text))
    return _scan(text)


_CACHED_LENGTH = 400


@lru_cache(maxsize=16384)
def _scan_short(text: str) -> tuple[Match, ...]:
    return tuple(_scan(text))


def _scan(text: str) -> list[Match]:
    found: list[Match] = []
    seen: dict[re.Pattern[str], bool] = {}
    for pattern in PATTERNS if _ANY_PATTERN.search(text) else ():
        for m in pattern.finditer(text, seen):
            start = m.start()
            if pattern is PATTERNS[0]:
                # a user part longer than the pattern looks back: take all of it
                while start > 0 and _EMAIL_USER.match(text, start - 1):
                    start -= 1
            head = m.start(pattern.group) - start if pattern.group else 0
            found.append(Match(pattern.name, start, m.end(), head))
    if text != text.casefold() or _has_name_word(text):
        names = _find_names(text)
        for start, name_start, end in names:
            found.append(Match("name", start, end, name_start - start))
        # a line that is entirely a name ("SMITH, John" as a label, or a line of a list)
        offset = 0
        for line in text.split("\n"):
            value = _LINE.fullmatch(line) if len(line) <= 100 else None
            if value is not None:
                start, end = offset + value.start("value"), offset + value.end("value")
                if start < end and name_value(value.group("value")) \
                        and not any(s < end and e > start for s, _, e in names):
                    found.append(Match("name", start, end))
            offset += len(line) + 1
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Match] = []
    for match in found:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def redact(text: str) -> tuple[str, list[str]]:
    """Replace personal data in *text* with ``[KIND]`` tokens; return the text and the kinds.

    Context stays so the sentence still reads: "Mr [NAME]", "DOB: [DATE_OF_BIRTH]"."""
    matches = scan(text)
    if not matches:
        return text, []
    return _redacted(text, matches)


def _redacted(text: str, matches: list[Match]) -> tuple[str, list[str]]:
    pieces = []
    last = 0
    for match in matches:
        pieces.append(text[last : match.start])
        pieces.append(text[match.start : match.start + match.head] + f"[{match.kind.upper()}]")
        last = match.end
    pieces.append(text[last:])
    return "".join(pieces), [m.kind for m in matches]


# --------------------------------------------------------------------------- whole values


#: Kinds a whole value (a cell of a column, not a sentence) can be, in the order they are tried.
VALUE_KINDS = ("email", "nhs_number", "ni_number", "phone", "postcode")


def value_kind(value: str) -> str | None:
    """The kind of personal data *value* is in its entirety (``"postcode"`` for "CM1 1AA"), if any.

    Used on the cells of a column, where ``scan`` (which looks for personal data inside text)
    would call "01245 123456 ext 2" a phone number but this does not: the whole value must match.
    """
    text = value.strip()
    if not text or len(text) > 254:
        return None
    for pattern in PATTERNS:
        if pattern.name not in VALUE_KINDS:
            continue
        match = pattern.regex.fullmatch(text)
        if match and (pattern.accept is None or pattern.accept(match.group(0))):
            return pattern.name
    return None


_NAME_TOKENS = {
    "name": {"surname", "forename", "forenames", "firstname", "lastname", "fullname", "givenname",
             "familyname", "middlename", "maidenname"},
    "date_of_birth": {"dob", "dateofbirth", "birthdate", "birthday"},
    "address": {"address", "addressline", "address1", "address2", "streetaddress", "homeaddress"},
    "email": {"email", "emailaddress"},
    "phone": {"phone", "telephone", "mobile", "phonenumber", "tel", "mobilenumber"},
    "nhs_number": {"nhs", "nhsnumber", "nhsno"},
    "ni_number": {"nino", "ninumber", "nationalinsurance", "nationalinsurancenumber"},
}
_PERSON_WORDS = {"person", "client", "child", "patient", "pupil", "victim", "offender", "suspect",
                 "parent", "carer", "mother", "father", "resident", "customer", "applicant",
                 "claimant", "tenant", "first", "last", "given", "family", "middle", "full"}


def column_hint(name: str) -> str | None:
    """The kind of personal data a column's *name* suggests ("first_name" → "name"), if any.

    Only names that point at a person count: "client_name", "first_name" or "surname" do;
    "name" alone (often the name of a category or place), "team_name" or "district name" do not.
    """
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()) if w]
    if not words:
        return None
    joined = "".join(words)
    for kind, tokens in _NAME_TOKENS.items():
        if joined in tokens or any(w in tokens for w in words):
            return kind
    if "name" in words and any(w in _PERSON_WORDS for w in words):
        return "name"
    if "birth" in words and ("date" in words or "of" in words):
        return "date_of_birth"
    return None


# --------------------------------------------------------------------------- many texts at once

#: a line, and the part of it a whole value would be (without a list's bullet or number)
_LINE = re.compile(r"[ \t\u00a0]{0,8}(?:(?:[-*+>#]{1,6}|\d{1,3}[.)])[ \t\u00a0]{1,3})?(?P<value>[^\n]{0,100}?)[ \t\u00a0\r]{0,8}")
_EMAIL_USER = re.compile(r"[\w.%+'\-]")
_NAME_WORDS_LIST = sorted(_TITLES_ANY_CASE | _TITLES_CAPITALISED | _TITLES_UPPER | _CONTEXT_WORDS
                          | {"known", "name", "names"}, key=len, reverse=True)
_NAME_WORDS_ALTERNATIVES = "|".join(re.escape(w) for w in _NAME_WORDS_LIST)
#: a text with none of these words and no capital letter has no name in it
_NAME_WORDS = re.compile(rf"(?i)\b(?:{_NAME_WORDS_ALTERNATIVES})\b")
_NAME_WORD_SET = frozenset(w.rstrip(".") for w in _NAME_WORDS_LIST)
_LETTERS = re.compile(r"[^\W\d_]{1,40}")


def _has_name_word(text: str) -> bool:
    """What `_NAME_WORDS` finds, quicker: a title or context word in any case."""
    lowered = text.casefold()
    return "a.k.a" in lowered or not _NAME_WORD_SET.isdisjoint(_LETTERS.findall(lowered))

#: A quick test that every text holding personal data passes, written for Polars' regex engine
#: (Rust's: linear time, no look-around) so a column can be screened in one vectorised pass and
#: only the texts that pass are scanned. Each alternative is a condition one kind needs: a digit
#: (numbers, postcodes, dates of birth), an "@", the ending of an obfuscated address, a title or
#: context word (names after them), two capitalised words with at most a few short words
#: between them (a name without context, or a label that is a name: "SMITH, John"), or a word
#: shaped like a surname (a label "McDonald"). Texts that
#: fail it hold nothing `scan` would find; the tests check this against `scan`.
CANDIDATE = (
    r"\d|[@\uff20]"
    rf"|(?i:\bdot\b|[.)\]}}>][ \t]{{0,3}}(?:{_TLDS})\b)"
    rf"|(?i:\b(?:{_NAME_WORDS_ALTERNATIVES})\b)"
    r"|\p{Uppercase}\S*[ \t\u00a0]+(?:\S{1,8}[ \t\u00a0]+){0,3}\p{Uppercase}"
    rf"|{_SHAPED_SCREEN}"
)
