"""MusicXML bytes to an element tree (plain or .mxl, as music21 reads them), and the score's title
and composer as music21's metadata gives them."""

from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from symcorpus.music.musicxml.errors import MalformedMusicXML, UnsupportedMusicXML


# Decompressed size above which an .mxl member is refused (a zip bomb, not a score).
MAX_XML_BYTES = 512 * 2**20


def archived_xml(data: bytes) -> bytes:
    """The score inside an .mxl archive, as UTF-8 (music21 decodes it as UTF-8, else UTF-16-LE)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if "META-INF/container.xml" not in names:
            raise MalformedMusicXML("compressed MusicXML without META-INF/container.xml")
        container = parse_xml(archive.read("META-INF/container.xml"), PARSER)
        rootfile = next((el.get("full-path") for el in container.iter("{*}rootfile")), None)
        if not rootfile or rootfile not in names:
            raise MalformedMusicXML(f"container.xml names no root file in the archive ({rootfile!r})")
        # music21 reads the first member outside META-INF with a MusicXML suffix, not container.xml.
        first = next((n for n in names if "META-INF" not in n
                      and (n.endswith((".musicxml", ".xml", ".mxl")) or n == ".xml")), None)
        if first != rootfile:
            raise UnsupportedMusicXML("mxl_rootfile", f"container names {rootfile}, music21 reads {first}")
        if archive.getinfo(rootfile).file_size > MAX_XML_BYTES:
            raise MalformedMusicXML(f"{rootfile} unpacks to more than {MAX_XML_BYTES} bytes")
        xml = archive.read(rootfile)
    except MalformedMusicXML:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, ValueError) as e:
        raise MalformedMusicXML(f"unreadable .mxl archive: {e}") from None
    try:
        xml.decode("utf-8")
        return xml
    except UnicodeDecodeError:
        pass
    try:
        text = xml.decode("utf-16-le")
    except UnicodeDecodeError:
        raise UnsupportedMusicXML("mxl_encoding", "archived score is neither UTF-8 nor UTF-16") from None
    return re.sub(r"""encoding=(['"]\S*?['"])""", "encoding='UTF-8'", text).encode("utf-8")


# remove_blank_text drops whitespace between elements (a quarter of the parse time); whitespace
# inside a text-only element, like <elision> </elision>, stays.
PARSER = etree.XMLParser(remove_comments=True, remove_pis=True, remove_blank_text=True, no_network=True)


UTF8_PARSER = etree.XMLParser(remove_comments=True, remove_pis=True, remove_blank_text=True, no_network=True,
                               encoding="utf-8")


def parse_xml(xml: bytes, parser):
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as e:
        raise MalformedMusicXML(f"malformed XML: {e}") from None
    if root is None:
        raise MalformedMusicXML("empty XML document")
    return root


# Articles music21 moves from "Title, The" to the front (music21.text.articleReference, all languages).
_ARTICLES = frozenset((
    "al-", "the", "a", "an", "der", "die", "das", "des", "dem", "den", "ein", "eine", "einer", "einem",
    "einen", "de", "het", "'t", "een", "el", "la", "los", "las", "un", "una", "unos", "unas", "o", "os",
    "as", "um", "uma", "uns", "umas", "le", "les", "l'", "une", "du", "de la", "il", "lo", "i", "gli",
    "un'", "uno", "del", "dello", "della", "dei", "degli", "delle",
))


def _article_first(text: str) -> str:
    if "," not in text:
        return text
    parts = text.split(",")
    trailing = parts[-1].strip()
    return trailing + " " + ",".join(parts[:-1]) if trailing.lower() in _ARTICLES else text


def _first_text(parent, tag: str) -> str | None:
    el = parent.find(tag) if parent is not None else None
    return el.text if el is not None and el.text not in (None, "") else None


def score_metadata(root) -> tuple[str | None, str | None]:
    """Title (work-title, else movement-title) and composer (creator type="composer"), as music21
    reads them, without music21's fallback to the file name."""
    work_title = _first_text(root.find("work"), "work-title")
    movement = _first_text(root, "movement-title")
    if work_title == movement:  # music21 drops a work-title that repeats the movement-title
        work_title = None
    title = _article_first(work_title) if work_title else (_article_first(movement) if movement else None)
    composers = []
    identification = root.find("identification")
    if identification is not None:
        for creator in identification.findall("creator"):
            if creator.get("type") == "composer":
                composers.append(creator.text.strip() if creator.text is not None else "")
    if not composers:
        composer = None
    elif len(composers) == 1:
        composer = composers[0]
    elif len(composers) == 2:
        composer = f"{composers[0]} and {composers[1]}"
    else:
        composer = f"{composers[0]} and {len(composers) - 1} others"
    return (title.strip() or None) if title else None, (composer.strip() or None) if composer else None
