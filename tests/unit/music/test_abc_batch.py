"""ABC tunes rendered by one abc2midi run per batch: the same MIDI as one run per tune, and a bad
tune costs only itself (real tunes from music21's collections; the bad ones made here)."""

from __future__ import annotations

from symcorpus.music import parse
from symcorpus.music.abc_text import split_tunes
from symcorpus.music.parse import Limits, ParseError, parse_piece, render_abc, render_abc_tunes, scratch_dir

from tests.conftest import M21


def tunes_of(rel: str) -> list[bytes]:
    return [t.content for t in split_tunes((M21 / rel).read_bytes())]


def test_tunes_rendered_together_are_the_tunes_rendered_alone():
    # petiteCamusette's second voice sets `%%MIDI transpose -12`, which abc2midi would carry into
    # the third if they shared a run: a tune with a directive ends its run.
    tunes = tunes_of("josquin/petiteCamusette.abc") + tunes_of("airdsAirs/book2.abc")[:20]
    together = render_abc_tunes(tunes, Limits())
    assert together == [render_abc(t, 20.0) for t in tunes]
    assert all(midi.startswith(b"MThd") for midi in together)


def test_a_tune_after_an_invisible_bar_line_is_the_same_in_every_run():
    # CroppiesLieDownJig ends on `[|]`; abc2midi rendered the tune after it in the same run
    # differently from that tune alone, and differently from one run to the next.
    tunes = tunes_of("ryansMammoth/CroppiesLieDownJig.abc") + tunes_of("ryansMammoth/CrossRoad.abc")
    alone = [render_abc(t, 20.0) for t in tunes]
    for _ in range(4):
        assert render_abc_tunes(tunes, Limits()) == alone


def test_a_bad_tune_costs_only_itself():
    good = tunes_of("airdsAirs/book2.abc")[:6]
    header = good[0][: good[0].index(b"X:")]
    no_key = header + b"X:7\nT:No key, so no body\nabc|\n\n"
    unreadable = tunes_of("essenFolksong/han2.abc")[373]  # `K: H`: abc2midi writes no MIDI for it
    tunes = good[:3] + [no_key, unreadable] + good[3:]
    together = render_abc_tunes(tunes, Limits())
    assert together[3] is None and together[4] is None
    assert [m for i, m in enumerate(together) if i not in (3, 4)] == [render_abc(t, 20.0) for t in good]
    for tune, reason in [(no_key, "bad_abc: tune has no K: field"), (unreadable, "bad_abc: abc2midi wrote no MIDI")]:
        try:
            parse_piece(tune, "abc", Limits(), rendered=None)
        except ParseError as e:
            assert str(e).startswith(reason)
        else:
            raise AssertionError("parsed a bad tune")


def test_a_batch_past_the_time_limit_leaves_every_tune_to_be_rendered_alone():
    tunes = tunes_of("airdsAirs/book2.abc")[:4]
    assert render_abc_tunes(tunes, Limits(subprocess_timeout_s=1e-4)) == [None] * 4


def test_a_cut_batch_output_is_rendered_alone():
    # In music21's corpus a batch run once gave two Ryan's Mammoth reels a 0-13 byte MIDI file; the
    # tune is then rendered by itself, as without batching, not reported as bad ABC.
    from symcorpus.music.parse import Limits, parse_abc

    tune = split_tunes((M21 / "ryansMammoth/CupOfTeaReel.abc").read_bytes())[0]
    alone = parse_abc(tune.content, Limits())
    after_a_cut_batch = parse_abc(tune.content, Limits(), rendered=b"MThd")
    assert after_a_cut_batch.rendered_midi == alone.rendered_midi and alone.score.note_num() > 100


def test_temporary_files_go_to_memory_where_there_is_room_and_tmpdir_is_not_set(monkeypatch, tmp_path):
    monkeypatch.delenv("TMPDIR", raising=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(parse, "MEMORY_SCRATCH", str(scratch))
    assert scratch_dir() == str(scratch)
    tunes = tunes_of("airdsAirs/book2.abc")[:5]
    assert render_abc_tunes(tunes, Limits()) == [render_abc(t, 20.0) for t in tunes]
    assert list(scratch.iterdir()) == []  # every run's directory removed
    monkeypatch.setattr(parse, "MIN_SCRATCH_FREE", 2**62)  # no room: the default temp directory
    assert scratch_dir() is None
    monkeypatch.setattr(parse, "MIN_SCRATCH_FREE", 0)
    for missing in (tmp_path / "absent", tmp_path / "a-file"):
        if missing.name == "a-file":
            missing.write_bytes(b"")
        monkeypatch.setattr(parse, "MEMORY_SCRATCH", str(missing))
        assert scratch_dir() is None
    monkeypatch.setattr(parse, "MEMORY_SCRATCH", str(scratch))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the user's choice wins
    assert scratch_dir() is None
