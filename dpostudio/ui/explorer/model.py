"""The explorer's table: one row per scored pair with its pending edit, and the filter/sort proxy over it.

``PairTableModel`` holds the scores (``core.diagnostics.pair_scores.PairScore``) and the edits a person made
(``core.data.versions.PairEdit``, keyed by ``(split, row)``); a dropped pair is struck through, a swapped one says
so in the Edit column. ``PairFilterProxy`` sorts by the numbers behind each cell (``SORT_ROLE``) and filters by a
view ("model disagrees with label", "learned nothing", "largest displacement", "edited") and a text search over
prompt and answers. The filters use the same tests as ``core.diagnostics.pair_reports``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from dpostudio.core.data.versions import PairEdit, PairKey
from dpostudio.core.diagnostics.pair_reports import NOTHING_LEARNED_MARGIN
from dpostudio.core.diagnostics.pair_scores import PairScore

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the number (or text) a column sorts by
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # the pair's (split, row)

COLUMNS = (
    ("row", "Row"),
    ("prompt", "Prompt"),
    ("chosen_reward", "Chosen reward"),
    ("rejected_reward", "Rejected reward"),
    ("margin", "Margin"),
    ("delta_chosen", "Δ log-p chosen"),
    ("delta_rejected", "Δ log-p rejected"),
    ("agrees", "Agrees"),
    ("edit", "Edit"),
)
COLUMN = {name: i for i, (name, _) in enumerate(COLUMNS)}
TIPS = {
    "row": "The pair's split and its row number in the source (1-based)",
    "chosen_reward": "Implicit reward of the chosen answer: beta × (log π − log π_ref)",
    "rejected_reward": "Implicit reward of the rejected answer: beta × (log π − log π_ref)",
    "margin": "Chosen reward − rejected reward; above 0 the model agrees with the label",
    "delta_chosen": "How much the chosen answer's log-probability moved against the reference (nats)",
    "delta_rejected": "How much the rejected answer's log-probability moved against the reference (nats)",
    "agrees": "Whether the tuned model prefers the chosen answer, as the label says",
    "edit": "What will change in a saved dataset version: swapped, dropped or marked (with a note)",
}
PROMPT_CHARS = 90

ALL, DISAGREE, NOTHING, DISPLACED, EDITED = "all", "disagree", "nothing", "displacement", "edited"
VIEWS = {
    ALL: "All pairs",
    DISAGREE: "Model disagrees with label",
    NOTHING: f"Learned nothing (|margin| < {NOTHING_LEARNED_MARGIN:g})",
    DISPLACED: "Largest displacement (chosen less likely)",
    EDITED: "Pending edits",
}
VIEW_SORT = {  # how a view sorts when chosen: (column, ascending)
    DISAGREE: ("margin", True),
    NOTHING: ("margin", True),
    DISPLACED: ("delta_chosen", True),
    EDITED: ("row", True),
}

_DROPPED = QColor("#8a8a8a")
_SWAPPED = QColor(255, 196, 0, 50)
_MARKED = QColor(66, 133, 244, 40)
_DISAGREE = QColor("#b03a2e")


def _one_line(text: str, width: int = PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class PairTableModel(QAbstractTableModel):
    """The scored pairs and their pending edits."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._scores: list[PairScore] = []
        self._edits: dict[PairKey, PairEdit] = {}
        self._index: dict[PairKey, int] = {}

    # ---- contents ---------------------------------------------------------------------------------------
    def set_scores(self, scores: Iterable[PairScore]) -> None:
        self.beginResetModel()
        self._scores = list(scores)
        self._index = {(s.split, s.row): i for i, s in enumerate(self._scores)}
        self._edits = {k: e for k, e in self._edits.items() if k in self._index}
        self.endResetModel()

    def scores(self) -> list[PairScore]:
        return list(self._scores)

    def score_at(self, row: int) -> PairScore:
        return self._scores[row]

    def row_of(self, key: PairKey) -> int | None:
        return self._index.get(key)

    # ---- edits ------------------------------------------------------------------------------------------
    def edits(self) -> dict[PairKey, PairEdit]:
        """The pending edits (copies), only pairs with something to change."""
        return {k: PairEdit(e.swap, e.drop, e.note) for k, e in self._edits.items() if not e.is_empty()}

    def edit_of(self, key: PairKey) -> PairEdit:
        return self._edits.get(key) or PairEdit()

    def swap(self, keys: Sequence[PairKey]) -> None:
        """Toggle the swap of each pair (swapping twice restores it)."""
        self._change(keys, lambda e: setattr(e, "swap", not e.swap))

    def drop(self, keys: Sequence[PairKey], dropped: bool = True) -> None:
        self._change(keys, lambda e: setattr(e, "drop", dropped))

    def mark(self, keys: Sequence[PairKey], note: str | None) -> None:
        """Mark each pair with ``note`` (None removes the mark)."""
        self._change(keys, lambda e: setattr(e, "note", note))

    def clear_edits(self, keys: Sequence[PairKey] | None = None) -> None:
        def forget(edit: PairEdit) -> None:
            edit.swap, edit.drop, edit.note = False, False, None

        self._change(list(self._edits) if keys is None else keys, forget)

    def _change(self, keys: Sequence[PairKey], how) -> None:
        for key in keys:
            row = self._index.get(key)
            if row is None:
                continue
            edit = self._edits.setdefault(key, PairEdit())
            how(edit)
            if edit.is_empty():
                del self._edits[key]
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # ---- Qt ---------------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._scores)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        name, title = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return TIPS.get(name)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._scores):
            return None
        score = self._scores[index.row()]
        name = COLUMNS[index.column()][0]
        key = (score.split, score.row)
        edit = self._edits.get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(score, name, edit)
        if role == SORT_ROLE:
            return self._sort_value(score, name, edit)
        if role == KEY_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            if name == "prompt":
                return _one_line(score.prompt, 600)
            if name == "edit" and edit is not None and edit.marked:
                return f"note: {edit.note}" if edit.note else "marked (no note)"
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and name not in ("prompt", "edit", "row"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and edit is not None and edit.drop:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if edit is not None and edit.drop:
                return QBrush(_DROPPED)
            if name in ("agrees", "margin") and not score.agrees:
                return QBrush(_DISAGREE)
        if role == Qt.ItemDataRole.BackgroundRole and edit is not None and not edit.drop:
            if edit.swap:
                return QBrush(_SWAPPED)
            if edit.marked:
                return QBrush(_MARKED)
        return None

    @staticmethod
    def _display(score: PairScore, name: str, edit: PairEdit | None) -> str:
        if name == "row":
            return f"{score.split} {score.row}"
        if name == "prompt":
            return _one_line(score.prompt)
        if name == "chosen_reward":
            return f"{score.chosen_reward:+.3f}"
        if name == "rejected_reward":
            return f"{score.rejected_reward:+.3f}"
        if name == "margin":
            return f"{score.margin:+.3f}"
        if name == "delta_chosen":
            return f"{score.delta_chosen_logp:+.2f}"
        if name == "delta_rejected":
            return f"{score.delta_rejected_logp:+.2f}"
        if name == "agrees":
            return "yes" if score.agrees else "no"
        if edit is None:
            return ""
        text = edit.describe()
        if edit.marked and edit.note and not edit.drop:
            text += f": {_one_line(edit.note, 40)}"
        return text

    @staticmethod
    def _sort_value(score: PairScore, name: str, edit: PairEdit | None) -> Any:
        values: dict[str, Any] = {
            "row": (score.split != "train") * 1_000_000_000 + score.row,
            "prompt": score.prompt.lower(),
            "chosen_reward": score.chosen_reward,
            "rejected_reward": score.rejected_reward,
            "margin": score.margin,
            "delta_chosen": score.delta_chosen_logp,
            "delta_rejected": score.delta_rejected_logp,
            "agrees": int(score.agrees),
            "edit": edit.describe() if edit is not None else "",
        }
        return values[name]


class PairFilterProxy(QSortFilterProxyModel):
    """Sorts by ``SORT_ROLE``; keeps the pairs of the chosen view that contain the search text."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._view = ALL
        self._text = ""

    @property
    def view(self) -> str:
        return self._view

    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
        self.beginFilterChange()
        self._view = view
        self.endFilterChange()

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, PairTableModel):
            return True
        score = model.score_at(source_row)
        if not accepts(score, self._view, model.edit_of((score.split, score.row))):
            return False
        if self._text:
            haystack = f"{score.split} {score.row}\n{score.prompt}\n{score.chosen}\n{score.rejected}".lower()
            edit = model.edit_of((score.split, score.row))
            if edit.note:
                haystack += "\n" + edit.note.lower()
            return self._text in haystack
        return True


def accepts(score: PairScore, view: str, edit: PairEdit) -> bool:
    """Whether ``score`` belongs in ``view`` (as ``pair_reports``: disagreeing, learned_nothing, displaced)."""
    if view == DISAGREE:
        return not score.agrees
    if view == NOTHING:
        return abs(score.margin) < NOTHING_LEARNED_MARGIN
    if view == DISPLACED:
        return score.delta_chosen_logp < 0
    if view == EDITED:
        return not edit.is_empty()
    return True
