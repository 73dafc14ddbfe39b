"""Text labels of a piece, NotaGen- and MidiCaps-style: period, composer, instrumentation, genre,
origin, tempo word and length class.

Every label comes from metadata a file declares (ABC `C:`/`O:`/`R:`/`T:`, score part names, General
MIDI programs, the music21 corpus folder it sits in) or from a measured number (tempo, duration),
through small data tables; nothing is guessed from the notes. A label we cannot support is None.

- composer: the canonical name of a row of `catalog/composers.csv`, matched accent- and
  case-insensitively against the row's name and aliases ("Bach, Johann Sebastian", "J.S. Bach",
  "L. van BEETHOVEN" all find their row). A credit that names nobody in the catalog gives None, so
  the label vocabulary stays closed.
- period: the composer's; else Traditional for folk material (ABC tunes without a composer, `C:`
  trad/anon/"collected by"/"Irish", folk collections); else a collection's period (the trecento).
- instrumentation: NotaGen's six classes plus Solo melody, Band and Folk ensemble, from part names
  (voice, keyboard and instrument words), General MIDI programs and the number of tracks.
- genre: ABC `R:` (English dance types, Essen's German song types), a dance or form word in the
  title, or the collection (Bach chorales, Monteverdi madrigals, Essen folk songs).
- tempo word and length class: MidiCaps' cut-offs (see `tempo_word`, `length_class`).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from symcorpus.music.instruments import GM_PROGRAMS

CATALOG_DIR = Path(__file__).resolve().parents[2] / "catalog"
COMPOSERS_CSV = CATALOG_DIR / "composers.csv"

PERIODS: tuple[str, ...] = (
    "Medieval", "Renaissance", "Baroque", "Classical", "Romantic", "20th century", "Traditional",
)
TRADITIONAL = "Traditional"

INSTRUMENTATIONS: tuple[str, ...] = (
    "Keyboard", "Chamber", "Orchestral", "Art Song", "Choral", "Vocal-Orchestral",
    "Solo melody", "Band", "Folk ensemble",
)

LABELS = pa.struct(
    [
        pa.field(name, pa.string())
        for name in ("period", "composer", "instrumentation", "genre", "origin", "tempo_word", "length_class")
    ]
)


@dataclass
class LabelInput:
    """What labelling reads of one piece. Every field may be None or empty."""

    source: str | None = None
    path: str | None = None
    format: str | None = None
    title: str | None = None
    composer: str | None = None  # raw: ABC C: or the score's composer metadata
    origin: str | None = None  # ABC O:
    rhythm: str | None = None  # ABC R:
    part_names: list[str] = field(default_factory=list)  # score parts with notes; not read for MIDI
    instruments: list[str] = field(default_factory=list)  # General MIDI names, drums excluded
    instrument_families: list[str] = field(default_factory=list)
    has_drums: bool | None = None
    n_tracks: int | None = None
    tempo_bpm: float | None = None  # None when the file declares no tempo
    duration_seconds: float | None = None
    time_signature: str | None = None


# --------------------------------------------------------------------------------------------------
# Tempo and length: MidiCaps' bins, so captions and conditions compare with MidiCaps-trained models.
# MidiCaps rounds the BPM and counts the cut-offs it exceeds: 40 is Grave, 41 Largo. Its Italian
# names sit a little slower than the textbook ranges (Andante 76-108, Moderato 108-120, Allegro
# 120-156), e.g. 100 BPM is Moderato here; we keep its bins for comparability.

TEMPO_CUTS: tuple[int, ...] = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_WORDS: tuple[str, ...] = (
    "Grave", "Largo", "Adagio", "Andante", "Moderato", "Allegro", "Vivace", "Presto", "Prestissimo",
)
PLAIN_TEMPO_CUTS: tuple[int, ...] = (80, 120, 160)
PLAIN_TEMPO_WORDS: tuple[str, ...] = ("slow", "moderate", "fast", "very fast")
LENGTH_CUTS: tuple[int, ...] = (30, 120, 300)  # seconds
LENGTH_CLASSES: tuple[str, ...] = ("short fragment", "short piece", "medium-length piece", "long piece")


def _bin(value: float | None, cuts: tuple[int, ...], names: tuple[str, ...]) -> str | None:
    if value is None or not value == value or value in (float("inf"), float("-inf")) or value <= 0:
        return None
    rounded = round(value)
    return names[sum(rounded > cut for cut in cuts)]


def tempo_word(bpm: float | None) -> str | None:
    """Italian tempo word for a quarter-note BPM: <=40 Grave, <=60 Largo, <=70 Adagio, <=90 Andante,
    <=110 Moderato, <=140 Allegro, <=160 Vivace, <=210 Presto, faster Prestissimo (MidiCaps)."""
    return _bin(bpm, TEMPO_CUTS, TEMPO_WORDS)


def plain_tempo_word(bpm: float | None) -> str | None:
    """Plain tempo word: <=80 slow, <=120 moderate, <=160 fast, faster very fast (MidiCaps)."""
    return _bin(bpm, PLAIN_TEMPO_CUTS, PLAIN_TEMPO_WORDS)


def length_class(seconds: float | None) -> str | None:
    """<=30 s short fragment, <=120 s short piece, <=300 s medium-length piece, longer long piece
    (MidiCaps' classes, renamed because most of a symbolic corpus is not song)."""
    return _bin(seconds, LENGTH_CUTS, LENGTH_CLASSES)


# --------------------------------------------------------------------------------------------------
# Text folding shared by every matcher: accents, case, apostrophes and punctuation do not matter.

_LETTER_MAP = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                             "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i"})
_APOSTROPHES = re.compile(r"['’ʻ`´]")
_CAMEL = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z]{2})|(?<=[a-z])(?=[A-Z])")
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "rev", "sir", "dame", "sig", "herr"})


def fold(text: str, split_camel: bool = False) -> str:
    """Lower-case ASCII with accents stripped and apostrophes dropped ("Dvořák" -> "dvorak");
    `split_camel` also splits run-together names at their capitals ("W.AMozart", "essenFolksong")."""
    text = _APOSTROPHES.sub("", text.translate(_LETTER_MAP))
    if split_camel:
        text = _CAMEL.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in re.findall(r"[a-z0-9]+", fold(text, split_camel=True)) if t not in _HONORIFICS)


# --------------------------------------------------------------------------------------------------
# Composers


@dataclass(frozen=True)
class Composer:
    name: str
    aliases: tuple[str, ...]
    period: str | None
    born: int | None
    died: int | None


@dataclass(frozen=True)
class _Catalog:
    composers: tuple[Composer, ...]
    exact: dict[tuple[str, ...], int]  # the whole credit must equal these tokens
    phrases: dict[str, list[tuple[tuple[str, ...], int]]]  # first token -> (tokens, row), longest first


def _int_or_none(value: str) -> int | None:
    return int(value) if value.strip() else None


def _build_catalog(path: Path) -> _Catalog:
    composers: list[Composer] = []
    exact: dict[tuple[str, ...], int] = {}
    phrases: dict[tuple[str, ...], int] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            aliases = tuple(a.strip() for a in row["aliases"].split("|") if a.strip())
            period = row["period"].strip() or None
            if period is not None and period not in PERIODS:
                raise ValueError(f"{path}: {row['composer']}: unknown period {period!r}")
            index = len(composers)
            composers.append(Composer(row["composer"].strip(), aliases, period,
                                      _int_or_none(row["born"]), _int_or_none(row["died"])))
            for alias in (row["composer"], *aliases):
                # "=name" matches only a credit that is exactly that name (short, common words).
                table = exact if alias.startswith("=") else phrases
                key = _tokens(alias.lstrip("="))
                if not key:
                    continue
                if table.get(key, index) != index:
                    other = composers[table[key]].name
                    raise ValueError(f"{path}: alias {alias!r} names both {other} and {row['composer']}")
                table[key] = index
    by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for key, index in phrases.items():
        by_first.setdefault(key[0], []).append((key, index))
    for entries in by_first.values():
        entries.sort(key=lambda e: -len(" ".join(e[0])))
    return _Catalog(tuple(composers), exact, by_first)


@lru_cache(maxsize=4)
def _catalog(path: str = str(COMPOSERS_CSV)) -> _Catalog:
    return _build_catalog(Path(path))


def composers() -> tuple[Composer, ...]:
    """Every row of catalog/composers.csv, in file order."""
    return _catalog().composers


_TEX = re.compile(r"\\[A-Za-z]+")
_PARENS = re.compile(r"\(([^()]*)\)")
# Manuscript sigla after a name in music21's trecento metadata: "Gherardello F-Pn 568".
_SIGLUM = re.compile(r"(?<!\S)[A-Z]{1,3}-[A-Z][A-Za-z]*")
_BY = re.compile(r"^.*\bby\b", re.IGNORECASE | re.DOTALL)


def _credit_forms(text: str) -> list[str]:
    """The strings a credit may name a composer in: each line/;-part, without parentheses and
    sigla, after a "by", the parenthesised parts, and "Surname, Given" turned round."""
    forms = []
    for part in re.split(r"[;\n]", _TEX.sub(" ", text)):
        inner = _PARENS.findall(part)
        outer = _SIGLUM.split(_PARENS.sub(" ", part))[0]
        outer = _BY.sub("", outer).strip(" .,:")
        if not outer and not inner:
            continue
        forms.append(outer)
        if outer.count(",") == 1:
            surname, given = (s.strip() for s in outer.split(","))
            if given and not re.search(r"\d", given) and len(surname.split()) <= 3:
                forms.append(f"{given} {surname}")
        forms.extend(inner)
    return forms


def _match_tokens(tokens: tuple[str, ...], catalog: _Catalog, exact: bool = True) -> tuple[int, int] | None:
    """(score, row) of the best alias in `tokens`: an exact alias beats any phrase; among phrases
    the longest wins ("C. P. E. Bach" before "Bach")."""
    if not tokens:
        return None
    if exact and tokens in catalog.exact:
        return (10_000, catalog.exact[tokens])
    best = None
    for i, token in enumerate(tokens):
        for key, index in catalog.phrases.get(token, ()):
            if tokens[i : i + len(key)] == key:
                score = len(" ".join(key))
                if best is None or score > best[0]:
                    best = (score, index)
                break  # entries are longest first
    return best


@lru_cache(maxsize=65536)
def match_composer(text: str | None, exact: bool = True) -> Composer | None:
    """The catalog composer a credit names, or None. `exact=False` ignores the exact-only aliases
    (bare surnames such as "Hall"), for credits that may name someone else of that name."""
    if not text or not text.strip():
        return None
    catalog = _catalog()
    best = None
    for form in _credit_forms(text):
        found = _match_tokens(_tokens(form), catalog, exact)
        if found and (best is None or found[0] > best[0]):
            best = found
    return catalog.composers[best[1]] if best else None


# --------------------------------------------------------------------------------------------------
# Origins: country first (the first named in the text), then a region when no country is named.
# Keys are folded text (accents off, lower case, hyphen joins removed).

COUNTRIES: dict[str, str] = {
    "deutschland": "Germany", "germany": "Germany", "german": "Germany", "brd": "Germany",
    "ddr": "Germany", "norddeutschland": "Germany", "sueddeutschland": "Germany",
    "frankreich": "France", "france": "France", "french": "France",
    "irland": "Ireland", "ireland": "Ireland", "irish": "Ireland", "eire": "Ireland",
    "schottland": "Scotland", "scotland": "Scotland", "scotch": "Scotland", "scottish": "Scotland",
    "scots": "Scotland", "highland": "Scotland", "highlands": "Scotland",
    "england": "England", "english": "England",
    "wales": "Wales", "welsh": "Wales", "welch": "Wales",
    "oesterreich": "Austria", "osterreich": "Austria", "austria": "Austria", "austrian": "Austria",
    "schweiz": "Switzerland", "switzerland": "Switzerland", "swiss": "Switzerland",
    "niederlande": "Netherlands", "netherlands": "Netherlands", "holland": "Netherlands",
    "dutch": "Netherlands",
    "belgien": "Belgium", "belgium": "Belgium",
    "luxemburg": "Luxembourg", "luxembourg": "Luxembourg",
    "polen": "Poland", "poland": "Poland", "polish": "Poland",
    "ungarn": "Hungary", "hungary": "Hungary", "hungarian": "Hungary",
    "tschechoslowakei": "Czechoslovakia", "czechoslovakia": "Czechoslovakia",
    "slowakei": "Slovakia", "slovakia": "Slovakia",
    "rumaenien": "Romania", "rumanien": "Romania", "romania": "Romania",
    "jugoslawien": "Yugoslavia", "yugoslavia": "Yugoslavia",
    "kroatien": "Croatia", "croatia": "Croatia", "slowenien": "Slovenia", "slovenia": "Slovenia",
    "serbien": "Serbia", "serbia": "Serbia", "bulgarien": "Bulgaria", "bulgaria": "Bulgaria",
    "griechenland": "Greece", "greece": "Greece",
    "italien": "Italy", "italy": "Italy", "italian": "Italy",
    "spanien": "Spain", "spain": "Spain", "spanish": "Spain",
    "portugal": "Portugal",
    "schweden": "Sweden", "sweden": "Sweden", "swedish": "Sweden",
    "norwegen": "Norway", "norway": "Norway", "norwegian": "Norway",
    "daenemark": "Denmark", "danemark": "Denmark", "denmark": "Denmark", "danish": "Denmark",
    "finnland": "Finland", "finland": "Finland",
    "russland": "Russia", "russia": "Russia", "russian": "Russia",
    "udssr": "Soviet Union", "ussr": "Soviet Union", "sowjetunion": "Soviet Union",
    "ukraine": "Ukraine",
    "china": "China", "chinese": "China", "taiwan": "Taiwan", "japan": "Japan", "korea": "Korea",
    "indien": "India", "india": "India",
    "mexiko": "Mexico", "mexico": "Mexico",
    "usa": "United States", "united states": "United States", "american": "United States",
    "virginian": "United States", "virginia": "United States",
    "kanada": "Canada", "canada": "Canada",
    "west india": "West Indies", "west indies": "West Indies", "west indian": "West Indies",
    "jamaica": "Jamaica", "israel": "Israel", "tuerkei": "Turkey", "turkey": "Turkey",
}
REGIONS: dict[str, str] = {
    "lothringen": "Lorraine", "lorraine": "Lorraine", "elsass": "Alsace", "alsace": "Alsace",
    "schlesien": "Silesia", "boehmen": "Bohemia", "bohmen": "Bohemia", "maehren": "Moravia",
    "tirol": "Tyrol", "suedtirol": "Tyrol", "siebenbuergen": "Transylvania", "galizien": "Galicia",
    "gottschee": "Gottschee", "bessarabien": "Bessarabia", "flandern": "Flanders",
    "flaemisch": "Flanders", "ostpreussen": "East Prussia", "sudetenland": "Sudetenland",
    "bukowina": "Bukovina", "banat": "Banat", "brittany": "Brittany", "cornwall": "Cornwall",
    "shetland": "Shetland", "northumberland": "Northumberland", "northumbrian": "Northumberland",
}
ORIGINS: tuple[str, ...] = tuple(sorted(set(COUNTRIES.values()) | set(REGIONS.values())))


def _fold_joined(text: str) -> str:
    """Folded text with hyphen joins removed ("Nord - Deutschland" -> "norddeutschland"); a dash
    between spaces ("Peep O' Day -- Reel") is no join."""
    return re.sub(r"\s+", " ", re.sub(r"(?<=\w)\s*-\s*(?=\w)", "", fold(text))).strip()


def _find_place(text: str) -> str | None:
    # Try each comma/semicolon/slash-separated part whole, then its words and word pairs, in order:
    # the first country wins; a region only when no country is named.
    region = None
    for part in re.split(r"[,;/()\[\]]", _fold_joined(text)):
        words = re.findall(r"[a-z]+", part)
        pairs = [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]
        for candidate in [" ".join(words)] + pairs + words:
            if candidate in COUNTRIES:
                return COUNTRIES[candidate]
            if region is None and candidate in REGIONS:
                region = REGIONS[candidate]
    return region


@lru_cache(maxsize=16384)
def origin_of(text: str | None) -> str | None:
    """ABC `O:` (German or English, country or region) as an English place name, or None."""
    return _find_place(text) if text and text.strip() else None


# --------------------------------------------------------------------------------------------------
# Composer credits: who or what an ABC `C:` (or a score's composer field) names.

_COLLECTOR = re.compile(r"\b(collected|as sung by|as played by|sung by|played by|from the playing|"
                        r"learned from|source|informant|transcribed)\b")
_TRADITIONAL = re.compile(r"\b(trad|traditional|folk|folksong|folk tune|volkslied|volksweise|unbekannt)\b")
_ANONYMOUS = re.compile(r"\b(anon|anonymous|anonyous|anonym|anonymus|unknown|incertus|incerto)\b")
_NOT_A_NAME = re.compile(r"\b(regt|regiment|young lady|a lady|a gentleman|play it)\b|_{3,}")
# Words a credit may hold beside a place that still make it no name: "A Welch Tune", "an Old Reel".
_DESCRIPTORS = frozenset({"a", "an", "the", "old", "new", "air", "airs", "tune", "tunes", "reel", "jig",
                          "song", "melody", "negro", "negroe", "gaelic", "highland", "lowland", "of", "from"})


@dataclass(frozen=True)
class Credit:
    """What a composer credit names. kind: composer (a catalog row) | traditional | anonymous |
    collector (the tune's source, not its author) | origin (a people or place: "Irish.") |
    unidentified (initials, notes) | name (someone the catalog lacks) | none (no credit)."""

    kind: str
    composer: Composer | None = None
    origin: str | None = None


@lru_cache(maxsize=65536)
def composer_credit(text: str | None, informants: bool = False) -> Credit:
    """Read a credit. `informants`: the collection credits the musicians it learnt tunes from
    (O'Neill's), so a name that is not a catalog composer is a collector, not an author."""
    if not text or not text.strip():
        return Credit("none")
    low = fold(text)
    if _COLLECTOR.search(low):
        return Credit("collector")
    if _TRADITIONAL.search(low):
        return Credit("traditional", origin=origin_of(text))
    if _ANONYMOUS.search(low):
        return Credit("anonymous", origin=origin_of(text))
    # An informant's bare surname ("Carey.") is no evidence for a composer of that name.
    composer = match_composer(text, exact=not informants)
    if composer is not None:
        return Credit("composer", composer)
    if informants:
        return Credit("collector")
    if _NOT_A_NAME.search(low):
        return Credit("unidentified")
    place = origin_of(text)
    words = [w for w in re.findall(r"[a-z]+", _fold_joined(text)) if w not in _DESCRIPTORS]
    if all(w in COUNTRIES or w in REGIONS or " ".join(words) in COUNTRIES for w in words):
        return Credit("origin", origin=place) if place else Credit("traditional")
    if all(len(w) <= 2 for w in words):
        return Credit("unidentified")  # initials only: "J.H.", "F.H.B."
    return Credit("name")


# --------------------------------------------------------------------------------------------------
# Collections of music21's bundled corpus (by top folder): what their files share.


@dataclass(frozen=True)
class Collection:
    folk: bool = False  # traditional material: no composer means Traditional
    period: str | None = None
    genre: str | None = None  # when nothing more specific is declared
    origin: str | None = None
    informants: bool = False  # C: names the musician a tune was collected from
    file_genres: tuple[tuple[str, str], ...] = ()  # (file-name prefix, genre)


MUSIC21_COLLECTIONS: dict[str, Collection] = {
    "airdsAirs": Collection(folk=True),
    "essenFolksong": Collection(folk=True, genre="folk song"),
    "miscFolk": Collection(folk=True),
    "nottingham-dataset": Collection(folk=True, file_genres=(
        ("reels", "reel"), ("jigs", "jig"), ("hpps", "hornpipe"), ("waltzes", "waltz"),
        ("slip", "slip jig"), ("morris", "morris dance"), ("playford", "country dance"), ("xmas", "carol"))),
    "oneills1850": Collection(folk=True, origin="Ireland", informants=True),  # O'Neill's Music of Ireland
    "ryansMammoth": Collection(folk=True),
    "trecento": Collection(period="Medieval"),
    "bach": Collection(genre="chorale"),  # the bwv files there are four-part chorale settings
    "monteverdi": Collection(genre="madrigal"),
    "palestrina": Collection(genre="mass"),  # mass movements
    "demos": Collection(),
    "leadSheet": Collection(),
    "theoryExercises": Collection(),
}


def music21_collection(source: str | None, path: str | None) -> str | None:
    """The top folder of a music21 corpus file ("bach" for "bach/bwv66.6.mxl"), or None when the
    record does not come from music21's corpus."""
    if not path:
        return None
    file_path = path.replace("\\", "/").split("#")[0]
    if source == "music21":
        relative = file_path
    elif "/music21/corpus/" in file_path:
        relative = file_path.split("/music21/corpus/", 1)[1]
    else:
        return None
    parts = [p for p in relative.split("/") if p]
    return parts[0] if len(parts) > 1 else None


# --------------------------------------------------------------------------------------------------
# Genres. Keys are matched at the start of a word in the folded text (German compounds: "liebes -
# lied" folds to "liebeslied", which starts with "liebe"); the key found earliest wins, then the
# longest. Values are the genre vocabulary.

GENRE_WORDS: dict[str, str] = {
    # dance and tune types (ABC R:)
    "reel": "reel", "jig": "jig", "double jig": "jig", "single jig": "jig", "doublejig": "jig",
    "singlejig": "jig", "slip jig": "slip jig", "slipjig": "slip jig", "hop jig": "slip jig",
    "hopjig": "slip jig", "hornpipe": "hornpipe",
    "polka": "polka", "waltz": "waltz", "valse": "waltz", "walzer": "waltz", "vals ": "waltz",
    "march": "march", "marche": "march", "marsch": "march", "quickstep": "march", "quick step": "march",
    "strathspey": "strathspey", "slide": "slide", "air": "air", "slow air": "air", "slowair": "air",
    "barn dance": "barn dance", "barndance": "barn dance", "mazurka": "mazurka", "mazur": "mazurka",
    "schottische": "schottische", "schottis": "schottische", "scottische": "schottische",
    "polska": "polska", "set dance": "set dance", "setdance": "set dance", "clog": "clog",
    "highland fling": "highland fling", "highlandfling": "highland fling", "fling": "highland fling",
    "walkaround": "walkaround",
    "walk around": "walkaround", "gavotte": "gavotte", "minuet": "minuet", "menuet": "minuet",
    "country dance": "country dance", "countrydance": "country dance", "morris": "morris dance",
    "galop": "galop", "rag": "rag",
    "tango": "tango", "song": "song",
    # vocal and sacred forms
    "lullaby": "lullaby", "wiegen": "lullaby", "carol": "carol", "weihnacht": "carol",
    "hymn": "hymn", "choral": "chorale", "madrigal": "madrigal", "motet": "motet", "mass": "mass",
    "ballad": "ballad", "romanze": "ballad",
    # Essen collection's German song types, and its Chinese ones
    "liebe": "love song", "kinder": "children's song", "tanz": "dance song", "reigen": "dance song",
    "trink": "drinking song", "zech": "drinking song", "geistlich": "religious song",
    "religi": "religious song", "erbauung": "religious song", "kirchenlied": "hymn",
    "hochzeit": "wedding song", "ehestand": "wedding song", "braut": "wedding song",
    "abschied": "farewell song", "jaeger": "hunting song", "jager": "hunting song",
    "soldat": "soldiers' song", "krieg": "soldiers' song", "arbeit": "work song", "beruf": "work song",
    "handwerk": "work song", "haozi": "work song", "scherz": "humorous song", "spott": "humorous song",
    "schwank": "humorous song", "klage": "lament", "trauer": "lament", "begraebnis": "lament",
    "begrabnis": "lament",
    "lament": "lament", "erzaehl": "narrative song", "erzahl": "narrative song", "sage": "narrative song",
    "maerchen": "narrative song", "marchen": "narrative song", "legende": "narrative song",
    "politisch": "patriotic song",
    "vaterland": "patriotic song", "wanderlied": "hiking song", "shange": "mountain song",
    "xiaodiao": "ditty", "minge": "folk song",
}
# Titles: a dance type as the title's last words ("Peep O' Day -- Reel"), or a form or dance as
# its first word ("Mazurka in C-sharp Minor", "Sonata No. 3"). Scores and ABC only: MIDI titles
# are track names of any kind.
TITLE_LAST: dict[str, str] = {
    k: GENRE_WORDS[k] for k in (
        "reel", "jig", "double jig", "single jig", "slip jig", "hornpipe", "polka", "waltz", "march",
        "strathspey", "slide", "air", "barn dance", "mazurka", "schottische", "polska", "set dance",
        "clog", "highland fling", "fling", "walkaround", "gavotte", "minuet", "country dance", "galop",
        "rag", "tango", "lullaby", "carol", "hymn", "lament", "quickstep")
}
TITLE_FIRST: dict[str, str] = {
    "sonata": "sonata", "sonatina": "sonatina", "symphony": "symphony", "sinfonia": "symphony",
    "concerto": "concerto", "prelude": "prelude", "praeludium": "prelude", "fugue": "fugue",
    "fuga": "fugue", "etude": "etude", "nocturne": "nocturne", "polonaise": "polonaise",
    "mazurka": "mazurka", "waltz": "waltz", "valse": "waltz", "minuet": "minuet", "menuet": "minuet",
    "march": "march", "chorale": "chorale", "choral": "chorale", "mass": "mass", "missa": "mass",
    "kyrie": "mass", "gloria": "mass", "credo": "mass", "sanctus": "mass", "agnus": "mass",
    "motet": "motet", "madrigal": "madrigal", "toccata": "toccata", "fantasia": "fantasia",
    "fantasy": "fantasia", "fantasie": "fantasia", "invention": "invention", "suite": "suite",
    "rondo": "rondo", "impromptu": "impromptu", "scherzo": "scherzo", "intermezzo": "intermezzo",
    "rhapsody": "rhapsody", "sarabande": "sarabande", "serenade": "serenade", "requiem": "requiem",
    "polka": "polka", "hornpipe": "hornpipe", "reel": "reel", "jig": "jig", "gavotte": "gavotte",
    "lullaby": "lullaby", "berceuse": "lullaby", "hymn": "hymn", "carol": "carol", "tango": "tango",
}
GENRES: tuple[str, ...] = tuple(sorted(
    set(GENRE_WORDS.values()) | set(TITLE_FIRST.values())
    | {c.genre for c in MUSIC21_COLLECTIONS.values() if c.genre}
    | {g for c in MUSIC21_COLLECTIONS.values() for _, g in c.file_genres}
))
_GENRE_PATTERN = re.compile(
    r"(?<![a-z])(" + "|".join(re.escape(k) for k in sorted(GENRE_WORDS, key=len, reverse=True)) + ")"
)


def genre_of_rhythm(rhythm: str | None) -> str | None:
    """An ABC `R:` field as a genre ("Slip Jig" -> slip jig, "liebes - lied, leid" -> love song)."""
    if not rhythm or not rhythm.strip():
        return None
    text = _fold_joined(rhythm) + " "
    found = [(m.start(), -len(m.group(1)), GENRE_WORDS[m.group(1)]) for m in _GENRE_PATTERN.finditer(text)]
    return min(found)[2] if found else None


def genre_of_title(title: str | None) -> str | None:
    if not title or not title.strip():
        return None
    first_title = re.split(r"[;\n]", title)[0]
    for words in [re.findall(r"[a-z]+", _fold_joined(p)) for p in _PARENS.findall(first_title)] + [
        re.findall(r"[a-z]+", _fold_joined(_PARENS.sub(" ", first_title)))
    ]:
        if not words:
            continue
        for n in (2, 1):
            if len(words) >= n and " ".join(words[-n:]) in TITLE_LAST:
                return TITLE_LAST[" ".join(words[-n:])]
        if words[0] in TITLE_FIRST:
            return TITLE_FIRST[words[0]]
    return None


def genre_of(info: LabelInput, collection: str | None = None) -> str | None:
    """R: first, then the title (not for MIDI), then the collection's file or folder."""
    genre = genre_of_rhythm(info.rhythm)
    if genre is None and info.format != "midi":
        genre = genre_of_title(info.title)
    hints = MUSIC21_COLLECTIONS.get(collection or "")
    if genre is None and hints is not None:
        name = (info.path or "").replace("\\", "/").split("#")[0].rsplit("/", 1)[-1].lower()
        genre = next((g for prefix, g in hints.file_genres if name.startswith(prefix)), hints.genre)
    return genre


# --------------------------------------------------------------------------------------------------
# Instrumentation. A part's role from its name (words checked in this order, so "Bass Clarinet" is
# a wind and "Bass" alone a voice), or from its General MIDI program.

_ROLE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("band", frozenset({"electric guitar", "bass guitar", "electric bass", "synth", "synthesizer",
                        "drum kit", "drum set", "lead guitar", "rhythm guitar"})),
    ("percussion", frozenset({"timpani", "timp", "pauken", "drum", "drums", "percussion", "cymbal",
                              "cymbals", "triangle", "glockenspiel", "xylophone", "marimba", "vibraphone",
                              "snare", "tambourine", "cowbell", "woodblock", "bells"})),
    ("keyboard", frozenset({"piano", "pianoforte", "fortepiano", "klavier", "clavier", "keyboard",
                            "keyboards", "organ", "orgel", "organo", "harpsichord", "cembalo", "clavecin",
                            "clavichord", "harmonium", "celesta", "pno", "pf", "continuo"})),
    ("folk", frozenset({"fiddle", "banjo", "bagpipe", "bagpipes", "pipes", "accordion", "akkordeon",
                        "concertina", "melodeon", "tin whistle", "whistle", "bodhran", "bouzouki",
                        "dulcimer", "hurdy gurdy", "harmonica", "sitar", "koto", "shamisen", "erhu",
                        "pipa", "guzheng", "kalimba", "shanai", "balalaika"})),
    ("strings", frozenset({"violin", "violins", "violino", "violini", "violine", "geige", "violon",
                           "viola", "violas", "bratsche", "cello", "cellos", "violoncello", "violoncelli",
                           "contrabass", "contrabasso", "double bass", "kontrabass", "violone", "viol",
                           "viols", "gamba", "strings", "string", "vln", "vla", "vc", "vlc", "vn", "cb"})),
    ("winds", frozenset({"flute", "flutes", "flauto", "flauti", "flote", "piccolo", "ottavino", "oboe",
                         "oboes", "hautbois", "oboi", "english horn", "cor anglais", "clarinet", "clarinets",
                         "clarinetto", "klarinette", "bassoon", "bassoons", "fagotto", "fagott",
                         "contrabassoon", "recorder", "blockflote", "saxophone", "sax", "horn", "horns",
                         "corno", "corni", "trumpet", "trumpets", "tromba", "trombe", "trompete",
                         "trombone", "trombones", "posaune", "tuba", "cornet", "cornett", "cornetto",
                         "euphonium", "flugelhorn", "bugle", "fife", "brass", "winds", "woodwinds",
                         "ocarina", "shakuhachi"})),
    ("plucked", frozenset({"guitar", "guitars", "gitarre", "chitarra", "lute", "laute", "liuto", "harp",
                           "harfe", "arpa", "mandolin", "mandoline", "theorbo", "tiorba"})),
    ("vocal", frozenset({"soprano", "sopran", "soprani", "mezzo", "mezzosoprano", "alto", "altus",
                         "contralto", "tenor", "tenore", "baritone", "bariton", "baritono", "bass", "basso",
                         "bassus", "voice", "voices", "voce", "voci", "vox", "voix", "vocal", "vocals",
                         "gesang", "singstimme", "chorus", "choir", "chor", "coro", "choeur", "canto",
                         "cantus", "superius", "discantus", "quintus", "quinto", "sextus", "sesto",
                         "triplum", "motetus", "duplum", "contratenor", "contra", "vocalist", "singer",
                         "treble"})),
)
_GENERIC_PART = re.compile(r"^(musicxml )?(part|staff|instrument|track|p)?\s*\d*$")


def part_role(name: str | None) -> str | None:
    """Role of a named part (vocal, keyboard, strings, winds, plucked, percussion, folk, band), or
    None when the name says nothing ("MusicXML Part", "P1", "")."""
    if not name or _GENERIC_PART.match(fold(name).strip()):
        return None
    words = re.findall(r"[a-z]+", fold(name))
    grams = set(words) | {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    for role, vocabulary in _ROLE_WORDS:
        if grams & vocabulary:
            return role
    return None


def _gm_role(program: int) -> str:
    if program <= 7 or program == 8 or 16 <= program <= 20:
        return "keyboard"
    if program <= 14 or program == 47 or 112 <= program <= 119:
        return "percussion"
    if program == 15 or 21 <= program <= 23 or 104 <= program <= 111:
        return "folk"
    if program in (24, 25, 46):
        return "plucked"
    if 26 <= program <= 31 or 33 <= program <= 39 or program in (54, 55, 62, 63) or 80 <= program <= 103:
        return "band"
    if program == 32 or 40 <= program <= 51:
        return "strings"
    if program in (52, 53):
        return "vocal"
    if 56 <= program <= 79:
        return "winds"
    return "effects"


_GM_ROLE = {name: _gm_role(i) for i, name in enumerate(GM_PROGRAMS)}
_CLASSICAL_ROLES = frozenset({"keyboard", "strings", "winds", "plucked", "percussion"})


def _part_roles(info: LabelInput) -> list[str]:
    """One role per part: from the part names of a score when every name says something, else from
    the GM programs, with tracks beyond the distinct programs counted as keyboard staves when there
    is a keyboard (a piano's two staves) and as the most common role otherwise. MIDI track names
    are not read: "Bass" there is a bass guitar far more often than a singer."""
    named = [part_role(n) for n in info.part_names or []] if info.format != "midi" else []
    if named and all(named):
        return named
    roles = [_GM_ROLE.get(name, "effects") for name in info.instruments or []]
    roles = [r for r in roles if r != "effects"]
    pitched_tracks = max((info.n_tracks or 0) - (1 if info.has_drums else 0), 0)
    if roles and pitched_tracks > len(roles):
        extra = "keyboard" if "keyboard" in roles else Counter(roles).most_common(1)[0][0]
        roles += [extra] * (pitched_tracks - len(roles))
    return roles


def instrumentation_of(info: LabelInput, folk: bool = False) -> str | None:
    """One of INSTRUMENTATIONS, or None. `folk`: the piece is traditional material."""
    if info.format == "abc":
        # abc2midi renders every voice on a default piano, so only the voice count means anything.
        if info.n_tracks == 1:
            return "Solo melody"
        return "Folk ensemble" if folk and (info.n_tracks or 0) > 1 else None
    roles = _part_roles(info)
    if not roles:
        return None
    kinds = set(roles)
    count = Counter(roles)
    total = len(roles)
    voices, keyboards = count["vocal"], count["keyboard"]
    others = total - voices - keyboards
    if info.has_drums and "band" in kinds:
        return "Band"  # drum kit with electric guitar, bass or synths
    if voices:
        if others >= 4 or {"strings", "winds"} <= kinds:
            return "Vocal-Orchestral"
        if voices == 1:
            return "Art Song" if total > 1 else "Solo melody"
        return "Choral"
    if kinds == {"keyboard"}:
        return "Keyboard"
    if kinds == {"percussion"}:
        return None
    if {"strings", "winds"} <= kinds and total >= 8:
        return "Orchestral"
    if info.has_drums or "band" in kinds:
        return "Band"
    if kinds <= {"winds", "percussion"} and count["winds"] >= 3:
        return "Band"  # wind or brass band
    if "folk" in kinds:
        return "Folk ensemble" if total > 1 else "Solo melody"
    if total == 1:
        return "Solo melody"
    if kinds <= _CLASSICAL_ROLES:
        if total <= 7:
            return "Chamber"
        if "strings" in kinds:
            return "Orchestral"  # string orchestra
    return None


def music21_part_names(stream) -> list[str]:
    """Part names of a music21 score for `LabelInput.part_names`: each part's name, or its
    instrument's name when the part name is missing or generic ("MusicXML Part")."""
    names = []
    for part in getattr(stream, "parts", []):
        name = (part.partName or "").strip()
        if part_role(name) is None:
            instrument = part.getInstrument(returnDefault=False)
            alternative = (getattr(instrument, "instrumentName", None) or "").strip() if instrument else ""
            name = alternative or name
        names.append(name)
    return names


# --------------------------------------------------------------------------------------------------


def piece_labels(info: LabelInput) -> dict[str, str | None]:
    """The LABELS of one piece (keys period, composer, instrumentation, genre, origin, tempo_word,
    length_class; each a string or None)."""
    collection = music21_collection(info.source, info.path)
    hints = MUSIC21_COLLECTIONS.get(collection or "")
    credit = composer_credit(info.composer, hints.informants if hints else False)
    composer = credit.composer
    if composer is None and collection and credit.kind in ("none", "name", "unidentified"):
        composer = match_composer(collection)  # music21's composer folders: "bach", "schumann_clara"
    folk_source = info.format == "abc" or (hints is not None and hints.folk)
    if composer is not None:
        period = composer.period
    elif credit.kind in ("traditional", "origin", "collector"):
        period = TRADITIONAL
    elif hints is not None and hints.period:
        period = hints.period
    elif credit.kind in ("anonymous", "none") and folk_source:
        period = TRADITIONAL
    else:
        period = None
    return {
        "period": period,
        "composer": composer.name if composer else None,
        "instrumentation": instrumentation_of(info, folk=period == TRADITIONAL),
        "genre": genre_of(info, collection),
        "origin": origin_of(info.origin) or credit.origin or (hints.origin if hints else None),
        "tempo_word": tempo_word(info.tempo_bpm),
        "length_class": length_class(info.duration_seconds),
    }
