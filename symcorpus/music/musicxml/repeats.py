"""Repeats as music21's repeat.Expander unfolds a part: repeat barlines (with times), volta
brackets, D.C. and D.S. jumps with their fine and coda signs, and the re-layout of expanded
measures. Where music21 finds a part's repeats incoherent it raises and `render_music21` plays the
whole score once through: `expand_repeats` raises RepeatsIncoherent then."""

from __future__ import annotations

from collections import Counter

from symcorpus.music.musicxml.errors import UnsupportedMusicXML
from symcorpus.music.musicxml.lookups import ending_numbers
from symcorpus.music.musicxml.measures import Measure


class _Bar:
    """A measure in the expansion: its source index, whether it is a copy, and its repeat barlines."""

    __slots__ = ("index", "original", "left", "right", "times", "signs")

    def __init__(self, index, original, left, right, times, signs=True):
        self.index, self.original, self.left, self.right, self.times = index, original, left, right, times
        self.signs = signs  # False once music21 has stripped its segno, coda and fine marks

    def copy(self) -> _Bar:
        return _Bar(self.index, False, self.left, self.right, self.times, self.signs)

    def strip(self) -> None:
        if self.left is not None:
            self.left = None
        if self.right is not None:
            self.right = None
        self.times = None


class _CannotExpand(Exception):
    """Raised inside the expansion where music21's Expander raises."""


class RepeatsIncoherent(Exception):
    """music21's ExpanderException on a part: `render_music21` then strips every repeat mark of the
    score and plays every part once through (parts.py does the same)."""


# music21's repeat commands (repeat.RepeatExpressionCommand), by the place they jump back to.
_CAPO = ("DaCapo", "DaCapoAlFine", "DaCapoAlCoda")
_SEGNO = ("AlSegno", "DalSegno", "DalSegnoAlFine", "DalSegnoAlCoda")
JUMPS = frozenset(_CAPO + _SEGNO)


def expand_repeats(measures: list[Measure]) -> list[tuple[int, bool]] | None:
    """(source measure index, keeps its repeat signs) in playing order, or None when music21 leaves
    the measures as they are. Raises RepeatsIncoherent where music21 finds the repeats incoherent."""
    brackets = _brackets(measures)
    bars = [_Bar(i, True, m.left, m.right, m.times) for i, m in enumerate(measures)]
    counts = Counter(name for m in measures for name in m.expressions)
    command = _command(counts)
    if command is None and not _has_repeat(bars):
        return None
    if any(b.left == "end" for b in bars):
        raise UnsupportedMusicXML("repeat", "an end-repeat sign on a left barline")
    try:
        if not (_repeats_coherent(bars) and _brackets_coherent(bars, brackets)
                and (command is None or _jump_coherent(command, counts))):
            raise RepeatsIncoherent()
        if command is None:
            return [(b.index, b.signs) for b in _expand(bars, brackets)]
        return _jump(measures, command)
    except _CannotExpand:
        raise RepeatsIncoherent() from None


def _has_repeat(bars: list[_Bar]) -> bool:
    return any(b.left is not None or b.right == "end" for b in bars)


def _expand(bars: list[_Bar], brackets) -> list[_Bar]:
    """music21's _processRecursiveRepeatBars."""
    memo: set[int] = set()
    for _ in range(100):
        bars = _expand_once(bars, brackets, memo)
        if not _has_repeat(bars):
            break
    return bars


def _command(counts: Counter) -> str | None:
    """The part's one jump (music21's _daCapoOrSegno): none when it has none, or several."""
    capo, segno = sum(counts[n] for n in _CAPO), sum(counts[n] for n in _SEGNO)
    if (capo, segno) in ((1, 0), (0, 1)):
        return next(n for n in _CAPO + _SEGNO if counts[n])
    return None


def _jump_coherent(command: str, counts: Counter) -> bool:
    """music21's _daCapoIsCoherent and _dalSegnoIsCoherent: the signs a jump needs, and no others."""
    coda, segno, fine = counts["Coda"], counts["Segno"], counts["Fine"]
    if command == "DaCapo":
        return coda == 0
    if command == "DaCapoAlFine":
        return fine == 1
    if command == "DaCapoAlCoda":
        return coda == 2
    if command in ("AlSegno", "DalSegno"):
        return segno == 1 and coda == 0
    if command == "DalSegnoAlFine":
        return segno == 1 and coda == 0 and fine == 1
    return segno == 1 and coda == 2 and fine == 0  # DalSegnoAlCoda


def _jump(measures: list[Measure], command: str) -> list[tuple[int, bool]]:
    """music21's _processRepeatExpressionAndRepeats: up to the jump with its repeats played, then
    from the start (or the segno) to the fine (or the end, or the first coda, then from the second
    coda to the end). Repeats after the jump are not played."""
    def where(name: str) -> list[int]:
        return [i for i, m in enumerate(measures) for e in m.expressions if e == name]

    last = len(measures) - 1
    start = 0 if command in _CAPO else where("Segno")[0]
    segments = [(0, where(command)[0])]
    if command.endswith("AlCoda"):
        codas = where("Coda")
        segments += [(start, codas[0]), (codas[1], last)]
    else:
        segments.append((start, where("Fine")[0] if command.endswith("AlFine") else last))
    sequence = []
    for number, (first, end) in enumerate(segments):
        bars = [_Bar(i, True, measures[i].left, measures[i].right, measures[i].times) for i in range(first, end + 1)]
        if number != 1 and _has_repeat(bars):
            # Each segment is made of fresh copies of the measures, which no volta bracket spans
            # any more: music21 plays their repeats without endings.
            bars = _expand(bars, [])
        # Laid out with their signs (music21 strips them from the whole once it has appended the
        # segments), save where a repeat's earlier pass lost them.
        sequence += [(b.index, b.signs) for b in bars]
    return sequence


def _brackets(measures: list[Measure]) -> list[tuple[tuple[int, ...], list[int]]]:
    """Volta brackets: (numbers, measures with an <ending> of the bracket), in order of start."""
    brackets, current = [], None
    for index, m in enumerate(measures):
        for kind, number, text in m.endings:
            if current is None:
                current = [None, [index]]  # numbers: set by the start, else RepeatBracket's default
                brackets.append(current)
            elif current[1][-1] != index:
                current[1].append(index)
            if kind == "start":
                current[0] = ending_numbers(number, text)
            if kind in ("stop", "discontinue"):
                current = None
    return [(numbers if numbers is not None else (0,), members) for numbers, members in brackets]


def _repeats_coherent(bars: list[_Bar]) -> bool:
    starts = ends = balance = 0
    for b in bars:
        if b.left == "start":
            starts += 1
            balance += 1
        if b.right == "end":
            if balance == 0:  # a first repeat may omit its start
                starts += 1
                balance += 1
            ends += 1
            balance -= 1
    return balance in (0, 1) and starts in (ends, ends - 1)


def _bracket_groups(bars: list[_Bar], brackets):
    """Brackets whose first measure is still an original, grouped as music21 groups them: a bracket
    numbered like one already in the group starts a new group."""
    first_of = {}
    for number, (numbers, members) in enumerate(brackets):
        first_of.setdefault(members[0], []).append(number)
    groups, group, seen = [], [], []
    for b in bars:
        if not b.original:
            continue
        for number in first_of.get(b.index, ()):
            numbers = brackets[number][0]
            if numbers[0] in seen:
                groups.append(group)
                group, seen = [], []
            seen += numbers
            group.append(number)
    groups.append(group)
    return groups


def _brackets_coherent(bars: list[_Bar], brackets) -> bool:
    by_index = {b.index: b for b in bars}
    for group in _bracket_groups(bars, brackets):
        if not group:
            return True
        if len(group) > 1:
            target = [n for number in group for n in brackets[number][0]]
            if list(range(1, max(target) + 1)) != target:
                return False
        spanned = set()
        for position, number in enumerate(group):
            members = brackets[number][1]
            if spanned & set(members):
                return False
            spanned |= set(members)
            if by_index[members[-1]].right is None and (len(group) == 1 or position < len(group) - 1):
                return False
    return True


def _innermost(bars: list[_Bar]) -> list[int]:
    starts = []
    for i, b in enumerate(bars):
        if b.left == "start":
            starts.append(i)
        elif b.left == "end":
            return list(range(starts[-1] if starts else 0, i))
        if b.right == "end":
            return list(range(starts[-1] if starts else 0, i + 1))
    return []


def _repeat_section(bars: list[_Bar], indices: list[int], times: int | None, forced: bool,
                    only_section: bool) -> list[_Bar]:
    """music21's processInnermostRepeatBars."""
    new: list[_Bar] = []
    strip_next = False
    i = 0
    while i < len(bars):
        if not indices:
            break
        if i == indices[0]:
            last = end_bar = None
            found_times = None
            try:
                last, end_bar, found_times = _end_repeat(bars, indices[-1])
            except _CannotExpand:
                if not forced:
                    raise
            count = times if times is not None else found_times
            for repetition in range(count):
                for j in indices:
                    copy = bars[j].copy()
                    if j in (indices[0], indices[-1]):
                        copy.strip()
                    if count >= 2 and repetition < count - 1:
                        copy.signs = False  # music21 keeps repeat signs on the last pass only
                    new.append(copy)
            if last is not end_bar:
                strip_next = True
            i = indices[-1] + 1
        else:
            if not only_section:
                b = bars[i]
                if strip_next:
                    b.strip()
                    strip_next = False
                new.append(b)
            i += 1
    return new


def _end_repeat(bars: list[_Bar], index: int):
    last = bars[index]
    if last.right == "end":
        return last, last, last.times if last.times is not None else 2
    if index >= len(bars) - 1:
        raise _CannotExpand()
    end_bar = bars[index + 1]
    if end_bar.left == "end":
        return last, end_bar, end_bar.times if end_bar.times is not None else 2
    raise _CannotExpand()


def _expand_once(bars: list[_Bar], brackets, memo: set[int]) -> list[_Bar]:
    """music21's _processInnermostRepeatsAndBrackets."""
    innermost = _innermost(bars)
    focus = None
    for group in _bracket_groups(bars, brackets):
        if not innermost:
            continue
        start, end = bars[innermost[0]], bars[innermost[-1]]
        for number in group:
            if number in memo:
                break
            members = brackets[number][1]
            if (start.original and start.index in members) or (end.original and end.index in members):
                focus = group
                break
        if focus is not None:
            break
    if focus is None:
        return _repeat_section(bars, innermost, None, False, False)
    position = {b.index: i for i, b in enumerate(bars) if b.original}
    sections, done_brackets, highest = [], [], None
    for number in focus:
        memo.add(number)
        numbers, members = brackets[number]
        if members[0] not in position or members[-1] not in position:
            raise _CannotExpand()
        first, last = position[members[0]], position[members[-1]]
        indices = [i for i in range(innermost[0], last + 1) if not any(i in d for d in done_brackets)]
        done_brackets.append(range(first, last + 1))
        if not indices:
            raise UnsupportedMusicXML("repeat", "a volta bracket before its repeat")
        sections.append(_repeat_section(bars, indices, len(numbers), True, True))
        highest = max(indices)
    new = bars[: innermost[0]]
    for section in sections:
        for b in section:
            b.strip()
            new.append(b)
    return new + bars[highest + 1:]
