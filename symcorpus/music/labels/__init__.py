"""Text labels of a piece, NotaGen- and MidiCaps-style: period, composer, instrumentation, genre,
origin, tempo word and length class.

Every label comes from metadata a file declares (ABC `C:`/`O:`/`R:`/`T:`, score part names, General
MIDI programs, the music21 corpus folder it sits in), from what its source states (`source_labels`:
a corpus's composer, period, genre, instrumentation), or from a measured number (tempo, duration),
through small data tables; nothing is guessed from the notes. A label we cannot support is None.
Period, composer, instrumentation and genre say where they came from (`<name>_from`: source |
inferred).

One module per job:
- composers: the catalog (symcorpus/data/composers.csv) and matching a credit to a row of it;
- credits: what a `C:` credit names (a composer, traditional material, a collector, a place...);
- places: `O:` as a country or region;
- music21_corpus: what the files of one music21 corpus folder share;
- instrumentation: NotaGen's classes from part names, GM programs and track counts;
- genres: from `R:`, the title or the collection;
- tempo: MidiCaps' tempo words and length classes;
- stated: a source's statements read as our labels (corpus words that mean one of our values);
- inputs: `LabelInput`, what every label function reads
- piece: `LABELS` and `piece_labels`, which puts them together (a stated composer, genre or
  instrumentation wins; the period is the composer's; else the stated period; else Traditional for
  folk material; else a collection's period, e.g. the trecento).
"""

from symcorpus.music.labels.composers import PERIODS, Composer, composers, match_composer
from symcorpus.music.labels.genres import GENRES
from symcorpus.music.labels.instrumentation import INSTRUMENTATIONS
from symcorpus.music.labels.piece import INFERRED, LABELS, SOURCE, LabelInput, piece_labels
from symcorpus.music.labels.places import ORIGINS
from symcorpus.music.labels.tempo import LENGTH_CLASSES, TEMPO_WORDS, length_class, tempo_word

__all__ = [
    "GENRES", "INFERRED", "INSTRUMENTATIONS", "LABELS", "LENGTH_CLASSES", "ORIGINS", "PERIODS", "SOURCE", "TEMPO_WORDS",
    "Composer", "LabelInput", "composers", "length_class", "match_composer", "piece_labels", "tempo_word",
]
