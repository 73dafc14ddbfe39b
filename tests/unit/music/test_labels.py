"""Labels (music/labels/) and the composer catalog, on the metadata of music21's real corpus."""

from __future__ import annotations

import csv
import html
import math
import re
import warnings
import zipfile
from collections import Counter

import pytest

from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes
from symcorpus.music.labels import LABELS, LabelInput, piece_labels
from symcorpus.music.labels.composers import COMPOSERS_CSV, PERIODS, composers, match_composer
from symcorpus.music.labels.credits import composer_credit
from symcorpus.music.labels.genres import GENRE_WORDS, GENRES, genre_of_rhythm, genre_of_title
from symcorpus.music.labels.instrumentation import INSTRUMENTATIONS, part_role
from symcorpus.music.labels.music21_corpus import MUSIC21_COLLECTIONS, music21_collection
from symcorpus.music.labels.places import ORIGINS, origin_of
from symcorpus.music.labels import stated
from symcorpus.music.labels.tempo import LENGTH_CLASSES, TEMPO_WORDS, length_class, tempo_word
from symcorpus.music.notes import summarize
from symcorpus.music.parse import Limits, parse_piece

from tests.conftest import M21


def abc_tunes(collection: str | None = None):
    """(relative path#index, header) of every tune of music21's ABC files."""
    for path in sorted(M21.rglob("*.abc")):
        rel = path.relative_to(M21).as_posix()
        if collection and not rel.startswith(collection + "/"):
            continue
        for tune in split_tunes(path.read_bytes()):
            yield f"{rel}#{tune.index}", parse_header(decode_abc(tune.content)), tune.content


def abc_input(path: str, header: dict, **extra) -> LabelInput:
    return LabelInput(source="music21", path=path, format="abc", title=header.get("title"),
                      composer=header.get("composer"), origin=header.get("origin"),
                      rhythm=header.get("rhythm"), **extra)


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


@pytest.fixture(scope="module")
def all_tunes():
    return list(abc_tunes())


# --------------------------------------------------------------------------------------------------
# The catalog


def test_catalog_rows_are_sane():
    with COMPOSERS_CSV.open("r", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["composer", "aliases", "period", "born", "died"]
    rows_by_name = Counter(r["composer"] for r in rows)
    assert [n for n, c in rows_by_name.items() if c > 1] == []
    listed = composers()  # loading also refuses an alias that names two rows
    assert len(listed) == len(rows) >= 250
    for c in listed:
        assert c.period is None or c.period in PERIODS, c
        assert c.period != "Traditional", c  # traditional tunes have no composer
        if c.born is not None:
            assert 1000 <= c.born <= 2010, c
        if c.died is not None:
            assert 1000 <= c.died <= 2025, c
        if c.born is not None and c.died is not None:
            assert 15 <= c.died - c.born <= 105, c
    # NotaGen's three periods are all well stocked, and so is every other named period.
    by_period = Counter(c.period for c in listed)
    assert all(by_period[p] >= 10 for p in PERIODS if p != "Traditional"), by_period
    # Periods run in order of the composers' birth years (a row in the wrong period stands out).
    order = {p: i for i, p in enumerate(PERIODS)}
    born = sorted((c.born, order[c.period], c.name) for c in listed if c.born and c.period)
    for (b1, p1, n1), (b2, p2, n2) in zip(born, born[1:]):
        assert p2 >= p1 or b2 - b1 <= 40, (n1, n2)


def test_catalog_covers_every_music21_corpus_folder():
    folders = sorted(p.name for p in M21.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    assert len(folders) >= 35
    missing = [f for f in folders if f not in MUSIC21_COLLECTIONS and match_composer(f) is None]
    assert missing == []
    # and each composer folder finds its own composer
    assert match_composer("bach").name == "Johann Sebastian Bach"
    assert match_composer("cpebach").name == "Carl Philipp Emanuel Bach"
    assert match_composer("schumann_clara").name == "Clara Schumann"
    assert match_composer("schumann_robert").name == "Robert Schumann"
    assert match_composer("johnson_j_r").name == "J. Rosamond Johnson"


def test_catalog_covers_every_abc_composer_credit(all_tunes):
    kinds, missing = Counter(), Counter()
    for path, header, _ in all_tunes:
        hints = MUSIC21_COLLECTIONS.get(music21_collection("music21", path))
        credit = composer_credit(header.get("composer"), hints.informants if hints else False)
        kinds[credit.kind] += 1
        if credit.kind == "name":
            missing[header["composer"]] += 1
    assert dict(missing) == {}
    assert kinds["composer"] >= 200 and kinds["origin"] >= 50 and kinds["collector"] >= 80, kinds
    assert kinds["none"] > 12000  # the Essen songs and most of the fiddle tunes name nobody


def score_credits() -> list[tuple[str, str]]:
    """(top folder, composer credit) of every MusicXML and Humdrum file of music21's corpus, read
    from the files themselves (<creator type="composer">, !!!COM:)."""
    creator = re.compile(rb'<creator[^>]*type="composer"[^>]*>(.*?)</creator>', re.S)
    com = re.compile(rb"^!!!COM[^:]*:[ \t]*(.*)$", re.M)
    credits = []
    for path in sorted(M21.rglob("*")):
        suffix = path.suffix.lower()
        if suffix in (".xml", ".musicxml"):
            found = creator.findall(path.read_bytes())
        elif suffix == ".mxl":
            with zipfile.ZipFile(path) as archive:
                found = [c for n in archive.namelist() if n.endswith((".xml", ".musicxml"))
                         and not n.startswith("META-INF") for c in creator.findall(archive.read(n))]
        elif suffix == ".krn":
            found = com.findall(path.read_bytes())
        else:
            continue
        folder = path.relative_to(M21).parts[0]
        credits += [(folder, html.unescape(c.decode("utf-8", "replace")).strip()) for c in found]
    return credits


def test_credits_in_music21_score_files():
    """A composer folder's credits name its composer or nobody in the catalog (poets, OCR noise),
    never another composer; the trecento's name medieval composers or nobody."""
    wrong, found = [], Counter()
    credits = score_credits()
    assert len(credits) > 1500
    for folder, credit in credits:
        composer = match_composer(credit)
        if composer is not None:
            found[folder] += 1
        if folder == "trecento":
            if composer is not None and composer.period != "Medieval":
                wrong.append((folder, credit, composer.name))
        elif folder not in MUSIC21_COLLECTIONS or folder == "bach":
            if composer is not None and composer != match_composer(folder):
                wrong.append((folder, credit, composer.name))
    assert wrong == []
    assert found["bach"] >= 340 and found["palestrina"] >= 1300 and found["trecento"] >= 30, found
    assert match_composer("Bach, Johann Sebastian") == match_composer("J.S. Bach") == match_composer("bach")
    assert match_composer("Carl Philipp Emanuel Bach") != match_composer("J. S. Bach")
    assert match_composer("W.AMozart.").name == "Wolfgang Amadeus Mozart"
    assert match_composer("Philippe de Vitry\n(1291 - 1361)").name == "Philippe de Vitry"
    assert match_composer("Gherardello F-Pn 568").name == "Gherardello da Firenze"
    assert match_composer("Dvořák") == match_composer("DVORAK, Antonin")
    assert match_composer("Music21") is None and match_composer("Battista Guarini") is None


# --------------------------------------------------------------------------------------------------
# Labels of real pieces


def test_labels_of_real_abc_tunes(all_tunes):
    seen = Counter()
    for path, header, _ in all_tunes:
        labels = piece_labels(abc_input(path, header, n_tracks=1))
        assert set(labels) == {f.name for f in LABELS}
        for name, vocabulary in (("period", PERIODS), ("genre", GENRES), ("origin", ORIGINS),
                                 ("instrumentation", INSTRUMENTATIONS)):
            assert labels[name] is None or labels[name] in vocabulary, (path, name, labels[name])
        assert labels["instrumentation"] == "Solo melody"
        folder = path.split("/")[0]
        credit = header.get("composer", "")
        if folder == "essenFolksong":
            seen["essen"] += 1
            assert labels["period"] == "Traditional" and labels["composer"] is None
            assert labels["genre"] is not None
            if header.get("origin", "").startswith("Europa, Mitteleuropa, Deutschland"):
                assert labels["origin"] == "Germany", header["origin"]
        elif folder == "josquin":
            assert (labels["composer"], labels["period"]) == ("Josquin des Prez", "Renaissance")
        elif folder == "oneills1850":
            seen["oneill"] += 1
            assert labels["origin"] == "Ireland"
            if "Carolan" in credit:
                assert (labels["composer"], labels["period"]) == ("Turlough O'Carolan", "Baroque")
            else:
                assert (labels["composer"], labels["period"]) == (None, "Traditional"), credit
        elif folder == "ryansMammoth":
            # Ryan's titles end in the dance type: "Peep O' Day -- Reel"
            title = header.get("title", "").lower().rstrip(". ")
            for word in ("reel", "hornpipe", "jig", "strathspey", "clog"):
                if title.endswith("-- " + word):
                    seen["titled"] += 1
                    assert genre_of_title(header["title"]) == GENRE_WORDS[word], header["title"]
                    if not header.get("rhythm"):
                        assert labels["genre"] == GENRE_WORDS[word], header["title"]
    assert seen["essen"] > 8000 and seen["oneill"] > 1000 and seen["titled"] > 50, seen


def test_real_rhythm_fields_become_genres(all_tunes):
    rhythms = Counter(h["rhythm"] for _, h, _ in all_tunes if h.get("rhythm"))
    read = {r: genre_of_rhythm(r) for r in rhythms}
    assert all(g is None or g in GENRES for g in read.values())
    # nearly every field that says something is read (Essen's "???" says nothing)
    meaningful = [r for r in rhythms if any(c.isalpha() for c in r)]
    share = sum(rhythms[r] for r in meaningful if read[r]) / sum(rhythms[r] for r in meaningful)
    assert share > 0.9, share
    assert genre_of_rhythm("slipjig") == genre_of_rhythm("Slip Jig") == "slip jig"
    assert genre_of_rhythm("double jig") == "jig" and genre_of_rhythm("highland fling") == "highland fling"
    assert genre_of_rhythm("liebes - lied, leid, klage") == "love song"
    assert genre_of_rhythm("staende -, soldaten -, kriegs - lied") == "soldiers' song"
    assert genre_of_rhythm("sage, märchen -, zauber - lied") == "narrative song"  # not "march"
    assert genre_of_rhythm("Xiaodiao. Geming lishi minge]") == "ditty"
    assert genre_of_rhythm("???") is None and genre_of_rhythm("") is None


def test_real_origin_fields(all_tunes):
    origins = Counter(h["origin"] for _, h, _ in all_tunes if h.get("origin"))
    named = sum(n for text, n in origins.items() if origin_of(text))
    assert named / sum(origins.values()) > 0.95
    assert origin_of("Mitteleuropa, Deutschland / Polen, Schlesien") == "Germany"
    assert origin_of("Mitteleuropa, Deutschland (BRD) , Rheinland") == "Germany"
    assert origin_of("Europa, Mitteleuropa, Lothringen, Weiler") == "Lorraine"
    assert origin_of("Amerika, Mittelamerika, Mexiko") == "Mexico"
    assert origin_of("Osteuropa, UdSSR, Ukraine") == "Soviet Union"
    assert origin_of("SCOTCH") == "Scotland" and origin_of("Europa") is None


def test_credits_that_name_no_composer():
    assert composer_credit("Irish.").origin == "Ireland"
    assert composer_credit("A Welch Tune").origin == "Wales"
    assert composer_credit("West India.").origin == "West Indies"
    assert composer_credit("Trad").kind == "traditional"
    assert composer_credit('"collected by F.O\'Neill"').kind == "collector"
    assert composer_credit("Carey.", informants=True).kind == "collector"
    assert composer_credit("by J.H.").kind == "unidentified"
    assert composer_credit("Anonymous I-Rvat 1419").kind == "anonymous"
    labels = piece_labels(LabelInput(source="music21", path="trecento/x.xml", format="musicxml",
                                     composer="Anonymous I-Rvat 1419"))
    assert (labels["period"], labels["composer"]) == ("Medieval", None)


SCORES = {
    # file, expected instrumentation (NotaGen's classes)
    "bach/bwv66.6.mxl": "Choral",
    "bach/bwv190.7-inst.mxl": "Vocal-Orchestral",
    "schubert/Lindenbaum.xml": "Art Song",
    "webern/webern_dormi_jesu_op_16_no_2.mxl": "Art Song",
    "joplin/maple_leaf_rag.mxl": "Keyboard",
    "corelli/opus3no1/1grave.xml": "Chamber",
    "weber/concertino_clarinet.mxl": "Chamber",
    "monteverdi/madrigal.3.1.mxl": "Choral",
    "chopin/mazurka06-2.krn": "Keyboard",
}

# also checked through the parse stage's MIDI rendering (kept few: music21 is slow)
RENDERED = ("bach/bwv66.6.mxl", "schubert/Lindenbaum.xml", "monteverdi/madrigal.3.1.mxl")


def test_labels_of_real_scores():
    from music21 import converter

    for rel, expected in SCORES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stream = converter.parse(M21 / rel)
        title = stream.metadata.title if stream.metadata else None
        composer = stream.metadata.composer if stream.metadata else None
        fmt = "humdrum" if rel.endswith(".krn") else "musicxml"
        info = LabelInput(source="music21", path=rel, format=fmt, title=title, composer=composer,
                          part_names=music21_part_names(stream))
        labels = piece_labels(info)
        assert labels["instrumentation"] == expected, (rel, info.part_names)
        assert labels["composer"] is not None and labels["period"] is not None, rel
        if rel not in RENDERED:
            continue
        # the same from the parse stage's rendering: names of the MIDI tracks that hold notes
        piece = parse_piece((M21 / rel).read_bytes(), fmt, Limits(), name=rel)
        summary = summarize(piece)
        rendered = LabelInput(source="music21", path=rel, format=fmt, instruments=summary["instruments"],
                              n_tracks=summary["n_tracks"], has_drums=summary["has_drums"],
                              part_names=[t.name for t in piece.score.tracks if t.note_num()])
        assert piece_labels(rendered)["instrumentation"] == expected, (rel, rendered.part_names)
    chopin = piece_labels(LabelInput(source="music21", path="chopin/mazurka06-2.krn", format="humdrum",
                                     title="Mazurka in C-sharp Minor, Op. 6, No. 2"))
    assert (chopin["composer"], chopin["period"]) == ("Frédéric Chopin", "Romantic")
    assert chopin["genre"] == "mazurka"


def test_instrumentation_from_rendered_general_midi():
    """Dichterliebe's parts are all called "MusicXML Part": the GM programs of music21's rendering
    (a choir voice and a piano's two staves) still make it an art song."""
    rel = "schumann_robert/dichterliebe_no2.xml"
    piece = parse_piece((M21 / rel).read_bytes(), "musicxml", Limits(), name=rel)
    summary = summarize(piece)
    info = LabelInput(source="music21", path=rel, format="musicxml", part_names=["MusicXML Part"] * 3,
                      instruments=summary["instruments"], has_drums=summary["has_drums"],
                      n_tracks=summary["n_tracks"])
    assert piece_labels(info)["instrumentation"] == "Art Song"


def test_instrumentation_of_real_midi():
    root = M21.parent / "midi" / "testPrimitive"
    classes = {}
    for path in sorted(root.glob("*.mid")):
        summary = summarize(parse_piece(path.read_bytes(), "midi", Limits(strict_midi=False)))
        info = LabelInput(format="midi", instruments=summary["instruments"], has_drums=summary["has_drums"],
                          n_tracks=summary["n_tracks"])
        classes[path.name] = (piece_labels(info)["instrumentation"], summary["instruments"])
    for name, (label, instruments) in classes.items():
        if instruments is None:  # no program change in the file: nothing says what plays it
            assert label is None, name
            continue
        if set(instruments) == {"Acoustic Grand Piano"}:
            assert label == "Keyboard", name
        if "Choir Aahs" in instruments and len(instruments) == 1:
            assert label in ("Choral", "Solo melody"), name
        strings, winds = {"Violin", "String Ensemble 1"}, {"Flute", "Oboe", "Trumpet"}
        if strings & set(instruments) and winds & set(instruments):
            assert label == "Orchestral", name
    assert Counter(label for label, _ in classes.values())["Orchestral"] >= 1
    assert sum(instruments is None for _, instruments in classes.values()) >= 1


def test_music21_collection_paths():
    assert music21_collection("music21", "bach/bwv66.6.mxl") == "bach"
    assert music21_collection("music21", "corelli/opus3no1/1grave.xml") == "corelli"
    assert music21_collection("music21", "essenFolksong/han1.abc#3") == "essenFolksong"
    assert music21_collection("corpus", "/x/site-packages/music21/corpus/beethoven/opus74.mxl") == "beethoven"
    assert music21_collection("mine", "bach/bwv66.6.mid") is None
    # a file in a folder called "bach" outside music21's corpus is no evidence of Bach
    assert piece_labels(LabelInput(source="mine", path="bach/x.mid", format="midi"))["composer"] is None


# --------------------------------------------------------------------------------------------------
# Bins


def test_tempo_words_follow_midicaps_cutoffs():
    expected = {39: "Grave", 40: "Grave", 40.4: "Grave", 40.6: "Largo", 60: "Largo", 61: "Adagio",
                70: "Adagio", 71: "Andante", 90: "Andante", 91: "Moderato", 110: "Moderato",
                111: "Allegro", 140: "Allegro", 141: "Vivace", 160: "Vivace", 161: "Presto",
                210: "Presto", 211: "Prestissimo", 400: "Prestissimo"}
    assert {bpm: tempo_word(bpm) for bpm in expected} == expected
    assert {tempo_word(b) for b in range(1, 300)} == set(TEMPO_WORDS)
    for bad in (None, 0, -5, math.nan, math.inf):
        assert tempo_word(bad) is None


def test_length_classes_follow_midicaps_cutoffs():
    expected = {1: "short fragment", 30: "short fragment", 30.4: "short fragment", 31: "short piece",
                120: "short piece", 121: "medium-length piece", 300: "medium-length piece", 301: "long piece"}
    assert {s: length_class(s) for s in expected} == expected
    assert [length_class(s) for s in (10, 100, 200, 1000)] == list(LENGTH_CLASSES)
    assert length_class(None) is None and length_class(math.nan) is None


# --------------------------------------------------------------------------------------------------
# What a source states (labels/stated.py)

# The genre words of the corpora behind AMD and NotaGen's data (docs/corpora.md), and the one genre
# of ours each means; every other word is a style, which no genre of ours names.
CORPUS_GENRES = {
    "aria-midi": ("classical", "pop", "rock", "soundtrack", "jazz", "blues", "ragtime", "folk", "ambient", "atonal"),
    "xmidi": ("rock", "pop", "country", "jazz", "classical", "traditional"),
}


def test_stated_words_map_only_onto_our_vocabularies():
    assert set(stated.PERIOD_ALIASES.values()) <= set(PERIODS)
    assert set(stated.GENRE_ALIASES.values()) <= set(GENRES)
    assert set(stated.INSTRUMENTATION_ALIASES.values()) <= set(INSTRUMENTATIONS)
    for vocabulary, stated_of in ((PERIODS, stated.stated_period), (GENRES, stated.stated_genre),
                                  (INSTRUMENTATIONS, stated.stated_instrumentation)):
        for value in vocabulary:  # our own values, in any case and punctuation
            assert stated_of(value) == stated_of(value.upper()) == value
    mapped = {w: stated.stated_genre(w) for words in CORPUS_GENRES.values() for w in words}
    assert {w: g for w, g in mapped.items() if g} == {"ragtime": "rag"}
    assert stated.stated_period("20th-Century") == "20th century" and stated.stated_period("Romantic era") == "Romantic"
    assert stated.stated_period("modern") is None and stated.stated_period("") is None
    assert stated.stated_instrumentation("Solo Piano") == "Keyboard"
    assert stated.stated_instrumentation("string band") is None


def test_stated_composers_are_read_as_credits():
    assert stated.stated_composer("Chopin").name == "Frédéric Chopin"
    assert stated.stated_composer("Bach, Johann Sebastian").name == "Johann Sebastian Bach"
    assert stated.stated_composer("Clara Schumann née Wieck").name == "Clara Schumann"
    for nobody in ("Traditional", "Anonymous", "James Aird", "collected by F. O'Neill", "", None):
        assert stated.stated_composer(nobody) is None, nobody


def test_stated_labels_win_where_they_name_our_values(all_tunes):
    path, header, _ = next((p, h, c) for p, h, c in all_tunes
                           if p.startswith("ryansMammoth/") and genre_of_rhythm(h.get("rhythm")) == "reel"
                           and not h.get("composer"))
    inferred = piece_labels(abc_input(path, header, n_tracks=1))
    assert inferred["genre"] == "reel" and inferred["period"] == "Traditional"
    assert all(inferred[f"{n}_from"] == "inferred" for n in ("period", "genre", "instrumentation"))
    assert inferred["composer"] is None and inferred["composer_from"] is None
    # Our values (any spelling) win; other words change nothing.
    stated_ = piece_labels(abc_input(path, header, n_tracks=1, source_labels={
        "genre": "Hornpipe", "instrumentation": "fiddle band", "period": "baroque", "mood": "happy"}))
    assert (stated_["genre"], stated_["genre_from"]) == ("hornpipe", "source")
    assert (stated_["period"], stated_["period_from"]) == ("Baroque", "source")
    assert (stated_["instrumentation"], stated_["instrumentation_from"]) == ("Solo melody", "inferred")
    unknown = piece_labels(abc_input(path, header, n_tracks=1, source_labels={"genre": "folk", "period": "modern"}))
    assert unknown == inferred
    # A stated composer wins over the file's credit and brings the catalog's period; the period of
    # a catalog composer with none is the stated one.
    bach = piece_labels(abc_input(path, {**header, "composer": "Handel"}, n_tracks=1,
                                  source_labels={"composer": "J.S. Bach", "period": "Romantic"}))
    assert (bach["composer"], bach["composer_from"], bach["period"], bach["period_from"]) == (
        "Johann Sebastian Bach", "source", "Baroque", "source")
    handel = piece_labels(abc_input(path, {**header, "composer": "Handel"}, n_tracks=1,
                                    source_labels={"composer": "James Aird", "period": "Romantic"}))
    assert (handel["composer"], handel["composer_from"], handel["period"], handel["period_from"]) == (
        "George Frideric Handel", "inferred", "Baroque", "inferred")
    carleton = piece_labels(abc_input(path, header, n_tracks=1,
                                      source_labels={"composer": "Harry Carleton", "period": "Romantic"}))
    assert (carleton["composer"], carleton["composer_from"], carleton["period"], carleton["period_from"]) == (
        "Harry Carleton", "source", "Romantic", "source")
