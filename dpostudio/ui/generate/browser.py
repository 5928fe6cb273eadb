"""The candidates of a generated dataset, per prompt: the prompts on the left (with what became of each: a pair, a
tie, left out, your own pick); on the right the K answers with their scores, which one the ranker's pairs chose
and rejected, and buttons to mark your own best and worst answer.

Your marks are saved at once in the person's judgement set (``core.compare.human_pairs``, "my-judgements", which
the Dataset pane lists) with the source ``{"kind": "candidates", "dataset": FOLDER, "prompt": INDEX}``: the best
answer is chosen against the worst one you marked, or against every other answer while no worst is marked. Marking
the same prompt again replaces the earlier judgement; unmarking the best withdraws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.compare.human_pairs import JudgementError, JudgementSet
from dpostudio.core.loop.pairs import CANDIDATES_FILE, CARD_FILE, PAIRS_FILE, RANKINGS_FILE
from dpostudio.core.loop.records import read_json, read_jsonl

KIND = "candidates"
CHOSEN_STYLE = "QFrame#CandidateCard { border: 2px solid #2e7d32; border-radius: 4px; }"
REJECTED_STYLE = "QFrame#CandidateCard { border: 2px solid #c62828; border-radius: 4px; }"
PLAIN_STYLE = "QFrame#CandidateCard { border: 1px solid palette(mid); border-radius: 4px; }"


def read_dataset(folder: str | Path) -> dict[str, Any]:
    """A dataset folder as the browser shows it: ``{"records", "rankings" (by index), "pairs" (by index),
    "card"}``; missing files read as empty (a job still running has no pairs yet)."""
    folder = Path(folder)
    rankings = {r["index"]: r for r in read_jsonl(folder / RANKINGS_FILE) if isinstance(r.get("index"), int)}
    pairs: dict[int, list[dict]] = {}
    for row in read_jsonl(folder / PAIRS_FILE):
        if isinstance(row.get("prompt_index"), int):
            pairs.setdefault(row["prompt_index"], []).append(row)
    records = sorted(
        (r for r in read_jsonl(folder / CANDIDATES_FILE) if isinstance(r.get("index"), int)), key=lambda r: r["index"]
    )
    return {"records": records, "rankings": rankings, "pairs": pairs, "card": read_json(folder / CARD_FILE)}


def source_of(folder: str | Path, index: int) -> dict:
    """The judgement source of one prompt of a dataset folder."""
    return {"kind": KIND, "dataset": str(Path(folder).resolve()), "prompt": int(index)}


def _score_text(score: Any) -> str:
    return "no score" if not isinstance(score, (int, float)) else f"score {score:.3g}"


class CandidateCard(QFrame):
    """One answer: its header (number, score, what the ranker's pairs made of it), its text, Best/Worst."""

    def __init__(self, index: int, text: str, header: str, style: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("CandidateCard")
        self.setStyleSheet(style)
        self.index = index
        self.header = QLabel(header)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.body = QLabel(text or "(empty answer)")
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.best_button = QPushButton("Best")
        self.best_button.setCheckable(True)
        self.best_button.setToolTip("Your pick: the best of these answers")
        self.worst_button = QPushButton("Worst")
        self.worst_button.setCheckable(True)
        self.worst_button.setToolTip("Your pick: the worst of these answers")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.best_button)
        top.addWidget(self.worst_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.body)


class CandidateBrowser(QWidget):
    """Browse a generated dataset folder per prompt and mark your own best and worst answers."""

    message = Signal(str, str)  # level, text
    judged = Signal(int)  # the prompt index whose judgement was saved or withdrawn

    def __init__(self, parent: QWidget | None = None, store: JudgementSet | None = None):
        super().__init__(parent)
        self._store = store
        self.folder: Path | None = None
        self.data: dict[str, Any] = {"records": [], "rankings": {}, "pairs": {}, "card": {}}
        self.marks: dict[int, dict[str, int | None]] = {}
        self.cards: list[CandidateCard] = []
        self.prompt_list = QListWidget()
        self.prompt_list.setObjectName("GeneratePromptList")
        self.prompt_list.currentRowChanged.connect(lambda _row: self._show_current())
        self.summary = QLabel("No dataset yet: start a job, or pick a generated folder.")
        self.summary.setWordWrap(True)
        self.prompt_label = QLabel()
        self.prompt_label.setWordWrap(True)
        self.prompt_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mine_label = QLabel()
        self.mine_label.setWordWrap(True)
        self.cards_host = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_host)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.prompt_label)
        right_layout.addWidget(self.mine_label)
        right_layout.addWidget(scroll, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.prompt_list)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

    def store(self) -> JudgementSet:
        if self._store is None:
            self._store = JudgementSet()
        return self._store

    # ---- reading ---------------------------------------------------------------------------------------
    def load(self, folder: str | Path | None) -> None:
        """Show ``folder`` (reads it again when it is the one shown, keeping the selected prompt)."""
        keep = self.prompt_list.currentRow()
        same = folder is not None and self.folder is not None and Path(folder) == self.folder
        self.folder = Path(folder) if folder else None
        self.data = read_dataset(self.folder) if self.folder else {"records": [], "rankings": {}, "pairs": {}}
        self.marks = {r["index"]: self._marks_from_store(r) for r in self.data["records"]} if self.folder else {}
        self.prompt_list.blockSignals(True)
        self.prompt_list.clear()
        for record in self.data["records"]:
            QListWidgetItem(self._item_text(record), self.prompt_list)
        self.prompt_list.blockSignals(False)
        self._update_summary()
        if self.data["records"]:
            self.prompt_list.setCurrentRow(keep if same and 0 <= keep < self.prompt_list.count() else 0)
        self._show_current()

    def reload(self) -> None:
        self.load(self.folder)

    def _update_summary(self) -> None:
        if self.folder is None:
            self.summary.setText("No dataset yet: start a job, or pick a generated folder.")
            return
        counts = (self.data.get("card") or {}).get("counts")
        mine = sum(1 for m in self.marks.values() if m.get("best") is not None)
        text = f"{self.folder.name}: {len(self.data['records'])} prompts answered"
        if counts:
            text += (
                f"; {counts['pairs']} pairs, {counts['ties']} ties and {counts['unjudged']} unjudged prompts left out"
            )
        self.summary.setText(text + f"; your picks on {mine}.")

    def _item_text(self, record: dict) -> str:
        index = record["index"]
        ranked = self.data["rankings"].get(index)
        if index in self.data["pairs"]:
            state = "pair"
        elif ranked is None:
            state = "not ranked yet"
        elif ranked.get("status") != "ok":
            state = "left out"
        else:
            state = "tie" if self.data.get("card") else "ranked"
        if self.marks.get(index, {}).get("best") is not None:
            state += " · your pick"
        first_line = (record.get("prompt") or "").strip().splitlines()[0] if record.get("prompt") else ""
        return f"{index + 1}. {first_line[:70]}  [{state}]"

    def _marks_from_store(self, record: dict) -> dict[str, int | None]:
        assert self.folder is not None
        judgement = self.store().latest(source_of(self.folder, record["index"]))
        texts = [c.get("text", "") for c in record.get("candidates") or []]
        if judgement is None or judgement.chosen is None or judgement.chosen not in texts:
            return {"best": None, "worst": None}
        best = texts.index(judgement.chosen)
        worst = texts.index(judgement.rejected[0]) if len(judgement.rejected) == 1 else None
        return {"best": best, "worst": worst}

    # ---- showing one prompt ----------------------------------------------------------------------------
    def current_record(self) -> dict | None:
        row = self.prompt_list.currentRow()
        records = self.data["records"]
        return records[row] if 0 <= row < len(records) else None

    def _show_current(self) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        record = self.current_record()
        if record is None:
            self.prompt_label.setText("")
            self.mine_label.setText("")
            return
        index = record["index"]
        ranked = self.data["rankings"].get(index) or {}
        scores = list(ranked.get("scores") or [])
        pairs = self.data["pairs"].get(index, [])
        chosen = {p.get("chosen_index") for p in pairs}
        rejected = {p.get("rejected_index") for p in pairs}
        words = f"<b>Prompt {index + 1}</b>"
        if ranked.get("status") not in (None, "ok"):
            words += f" — left out by the ranker: {ranked.get('reason') or 'no reason given'}"
        self.prompt_label.setText(words + "<br>" + _escape(record.get("prompt") or ""))
        for i, candidate in enumerate(record.get("candidates") or []):
            score = scores[i] if i < len(scores) else None
            tags = []
            if i in chosen:
                tags.append("<span style='color:#2e7d32'><b>chosen</b></span>")
            if i in rejected:
                tags.append("<span style='color:#c62828'><b>rejected</b></span>")
            header = f"<b>Answer {i + 1}</b> · {_score_text(score)}" + (" · " + " · ".join(tags) if tags else "")
            style = CHOSEN_STYLE if i in chosen else REJECTED_STYLE if i in rejected else PLAIN_STYLE
            card = CandidateCard(i, candidate.get("text", ""), header, style, self.cards_host)
            card.best_button.clicked.connect(lambda _c=False, n=i: self.mark(n, "best"))
            card.worst_button.clicked.connect(lambda _c=False, n=i: self.mark(n, "worst"))
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
            self.cards.append(card)
        self._show_marks(index)

    def _show_marks(self, index: int) -> None:
        marks = self.marks.get(index, {})
        for card in self.cards:
            card.best_button.setChecked(marks.get("best") == card.index)
            card.worst_button.setChecked(marks.get("worst") == card.index)
        best, worst = marks.get("best"), marks.get("worst")
        if best is None:
            text = "Your pick: none yet. Mark the best answer (and the worst, if you like) to make a pair."
            if worst is not None:
                text = f"Your pick: answer {worst + 1} is the worst; mark the best one to save a pair."
        elif worst is None:
            text = f"Your pick: answer {best + 1} is the best, preferred to every other answer (saved)."
        else:
            text = f"Your pick: answer {best + 1} preferred to answer {worst + 1} (saved)."
        self.mine_label.setText(text)

    # ---- marking -----------------------------------------------------------------------------------------
    def mark(self, candidate: int, role: str) -> bool:
        """Mark ``candidate`` of the shown prompt as your ``best`` or ``worst`` (again: unmark) and save the
        judgement. False (and a message in words) when it could not be saved."""
        record = self.current_record()
        if record is None or self.folder is None:
            return False
        index = record["index"]
        marks = dict(self.marks.get(index) or {"best": None, "worst": None})
        marks[role] = None if marks.get(role) == candidate else candidate
        other = "worst" if role == "best" else "best"
        if marks[role] is not None and marks.get(other) == candidate:
            marks[other] = None  # one answer cannot be both
        try:
            self._save(record, marks)
        except (JudgementError, OSError) as exc:
            self.message.emit("warning", f"Your pick on prompt {index + 1} was not saved: {exc}")
            self._show_marks(index)
            return False
        self.marks[index] = marks
        self._show_marks(index)
        item = self.prompt_list.item(self.prompt_list.currentRow())
        if item is not None:
            item.setText(self._item_text(record))
        self._update_summary()
        self.judged.emit(index)
        return True

    def _save(self, record: dict, marks: dict) -> None:
        assert self.folder is not None
        source = source_of(self.folder, record["index"])
        texts = [c.get("text", "") for c in record.get("candidates") or []]
        best, worst = marks.get("best"), marks.get("worst")
        if best is None:
            self.store().withdraw(source)
            return
        rejected = [texts[worst]] if worst is not None else [t for i, t in enumerate(texts) if i != best]
        messages = record.get("messages") or []
        plain = not messages or (len(messages) == 1 and messages[0].get("role") == "user")
        system = ((self.data.get("card") or {}).get("generator") or {}).get("system_prompt")
        self.store().record(
            record["prompt"] if plain else messages,
            texts[best],
            rejected,
            source=source,
            verdict=f"answer {best + 1}",
            system=system,
        )


def _escape(text: str) -> str:
    from html import escape

    return escape(text).replace("\n", "<br>")
