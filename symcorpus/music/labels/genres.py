"""Genres from ABC `R:` (English dance types, Essen's German song types), a dance or form word in
the title, or the music21 collection (Bach chorales, Monteverdi madrigals, Essen folk songs).

`GENRE_WORDS` keys are matched at the start of a word in the folded text (German compounds: "liebes -
lied" folds to "liebeslied", which starts with "liebe"); the key found earliest wins, then the
longest. Values are the genre vocabulary.
"""

from __future__ import annotations

import re

from symcorpus.music.labels.folding import PARENTHESES, fold_joined
from symcorpus.music.labels.inputs import LabelInput
from symcorpus.music.labels.music21_corpus import MUSIC21_COLLECTIONS


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
    text = fold_joined(rhythm) + " "
    found = [(m.start(), -len(m.group(1)), GENRE_WORDS[m.group(1)]) for m in _GENRE_PATTERN.finditer(text)]
    return min(found)[2] if found else None


def genre_of_title(title: str | None) -> str | None:
    if not title or not title.strip():
        return None
    first_title = re.split(r"[;\n]", title)[0]
    for words in [re.findall(r"[a-z]+", fold_joined(p)) for p in PARENTHESES.findall(first_title)] + [
        re.findall(r"[a-z]+", fold_joined(PARENTHESES.sub(" ", first_title)))
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
