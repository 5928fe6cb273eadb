"""The Dataset pane's "Rows" tab: the table of pairs, the selected pair's chosen-vs-rejected answers side by
side, and exactly what the model sees (the pair rendered through the prompt template and tokenizer).

``PairViewsMixin`` is mixed into ``DatasetPane``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data.templates import flatten_prompt
from dpostudio.core.training.run_config import DEFAULT_MODEL
from dpostudio.ui.dataset.config_form import _TEMPLATES
from dpostudio.ui.dataset.pair_table import PairTableModel, _row_table_view
from dpostudio.ui.tasks import run_task

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``DatasetPane``)
else:
    _MixinBase = object


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class PairViewsMixin(_MixinBase):
    """The rows table and the selected row's previews in ``DatasetPane``."""

    _preview_request: tuple | None

    if TYPE_CHECKING:  # provided by DatasetPane
        _tokenizer: str | None
        _tokenizer_spec: str | None
        _max_length: int
        _tokenizer_loading: str | None

        def data_config(self) -> dict: ...
        def load_tokenizer(self) -> None: ...

    def _build_rows_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.pair_model = PairTableModel(self)
        self.table = _row_table_view(self.pair_model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for col, mode in enumerate(
            (
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.Interactive,
            )
        ):
            header.setSectionResizeMode(col, mode)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_preview())
        splitter.addWidget(self.table)

        detail = QTabWidget()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        self.prompt_view = QPlainTextEdit(readOnly=True)
        self.prompt_view.setPlaceholderText("Select a row to see its prompt")
        self.prompt_view.setMaximumHeight(90)
        side_layout.addWidget(QLabel("<b>Prompt</b>"))
        side_layout.addWidget(self.prompt_view)
        answers = QGridLayout()
        self.chosen_title = QLabel("<b style='color:#2e7d32'>Chosen</b>")
        self.rejected_title = QLabel("<b style='color:#a33'>Rejected</b>")
        answers.addWidget(self.chosen_title, 0, 0)
        answers.addWidget(self.rejected_title, 0, 1)
        self.chosen_view = QPlainTextEdit(readOnly=True)
        self.rejected_view = QPlainTextEdit(readOnly=True)
        self.chosen_view.setStyleSheet("QPlainTextEdit { border: 1px solid #8bc34a; }")
        self.rejected_view.setStyleSheet("QPlainTextEdit { border: 1px solid #e57373; }")
        answers.addWidget(self.chosen_view, 1, 0)
        answers.addWidget(self.rejected_view, 1, 1)
        side_layout.addLayout(answers, 1)
        detail.addTab(side, "Chosen vs rejected")

        seen = QWidget()
        seen_layout = QVBoxLayout(seen)
        seen_layout.setContentsMargins(4, 4, 4, 4)
        # the tokenizer sits with the preview it changes (not at the bottom of the scrolled settings column)
        model_row = QHBoxLayout()
        model_row.setContentsMargins(0, 0, 0, 0)
        model_row.addWidget(QLabel("Tokenizer of"))
        self.model_edit = QLineEdit(DEFAULT_MODEL)
        self.model_edit.setCursorPosition(0)
        self.model_edit.setToolTip("The model whose tokenizer counts tokens and renders its chat template")
        self.model_edit.textChanged.connect(self._on_model_edited)
        model_row.addWidget(self.model_edit, 1)
        self.tokenizer_button = QPushButton("Use tokenizer")
        self.tokenizer_button.setToolTip(
            "Load this model's tokenizer (in the background) to count tokens, check "
            "truncation and preview the chat template"
        )
        self.tokenizer_button.clicked.connect(self.load_tokenizer)
        model_row.addWidget(self.tokenizer_button)
        seen_layout.addLayout(model_row)
        self.tokenizer_status = QLabel()
        self.tokenizer_status.setWordWrap(True)
        self.tokenizer_status.setStyleSheet("color: palette(mid);")
        seen_layout.addWidget(self.tokenizer_status)
        self.templated_label = QLabel("Select a row to see exactly what the model is trained on.")
        self.templated_label.setWordWrap(True)
        seen_layout.addWidget(self.templated_label)
        self.templated_view = QPlainTextEdit(readOnly=True)
        self.templated_view.setFont(_mono())
        self.templated_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        seen_layout.addWidget(self.templated_view, 1)
        detail.addTab(seen, "What the model sees")
        self.detail_tabs = detail
        splitter.addWidget(detail)
        splitter.setSizes([300, 320])
        layout.addWidget(splitter)
        self._update_tokenizer_hint()
        return page

    def _named_model(self) -> str:
        return self.model_edit.text().strip()

    def _on_model_edited(self, *_args) -> None:
        self._update_tokenizer_hint()
        if self._tokenizer is None and self.table.currentIndex().isValid():
            self._update_preview()  # the "needs a tokenizer" hint names the model

    def _update_tokenizer_hint(self) -> None:
        """The line under the model box, from the current state: loading, loaded (for this model or another one),
        or none yet; the button says what pressing it would do."""
        named = self._named_model()
        loading = getattr(self, "_tokenizer_loading", None)
        if loading is not None:
            text = f"Loading the tokenizer of {loading}…"
            button = "Use tokenizer"
        elif self._tokenizer is not None and self._tokenizer_spec == (named or DEFAULT_MODEL):
            text = f"Using the tokenizer of {self._tokenizer_spec}: lengths are in tokens."
            button = "Reload tokenizer"
        elif self._tokenizer is not None:
            text = (
                f"Using the tokenizer of {self._tokenizer_spec}. Press “Use tokenizer” to switch to "
                f"{named or DEFAULT_MODEL}."
            )
            button = "Use tokenizer"
        elif named:
            text = "No tokenizer loaded: lengths are counted in characters."
            button = "Use tokenizer"
        else:
            text = "No tokenizer loaded: name a model to count tokens and see its chat template."
            button = "Use tokenizer"
        self.tokenizer_status.setText(text)
        self.tokenizer_button.setText(button)
        self.tokenizer_button.setEnabled(loading is None)

    def _needs_tokenizer_text(self) -> str:
        named = self._named_model()
        if getattr(self, "_tokenizer_loading", None) is not None:
            return "The chat template appears when the tokenizer has loaded."
        if named:
            return (
                f"The model's chat template needs its tokenizer: press “Use tokenizer” above to load {named}'s, "
                "or pick the Alpaca or raw template."
            )
        return (
            "The model's chat template needs a tokenizer: name a model above and press “Use tokenizer”, "
            "or pick the Alpaca or raw template."
        )

    def _update_preview(self) -> None:
        index = self.table.currentIndex()
        item = self.pair_model.pair(index.row()) if index.isValid() else None
        if item is None:
            for view in (self.prompt_view, self.chosen_view, self.rejected_view, self.templated_view):
                view.clear()
            self.templated_label.setText("Select a row to see exactly what the model is trained on.")
            return
        split, pair = item
        self.prompt_view.setPlainText(flatten_prompt(pair["prompt"]))
        self.chosen_view.setPlainText(pair["chosen"])
        self.rejected_view.setPlainText(pair["rejected"])
        self.chosen_title.setText(f"<b style='color:#2e7d32'>Chosen</b> ({len(pair['chosen'])} characters)")
        self.rejected_title.setText(f"<b style='color:#a33'>Rejected</b> ({len(pair['rejected'])} characters)")
        self._render_templated(split, pair)

    def _render_templated(self, split: str, pair: dict) -> None:
        """What the model sees for the selected row. With a tokenizer (held by the app's background process)
        the preview is computed there and shown when it arrives; without one it is computed here at once."""
        from dpostudio.core.data import tokenizer_cache
        from dpostudio.core.data.problems import DataError

        cfg = self.data_config()
        template = cfg["prompt_template"]
        if self._tokenizer is None:
            try:
                preview = tokenizer_cache.preview(pair, None, template, cfg["system_prompt"])
            except DataError as exc:
                needs = template == "chat" and "tokenizer" in str(exc)
                self.templated_label.setText(self._needs_tokenizer_text() if needs else f"{exc}.")
                self.templated_view.clear()
                return
            self._show_templated(split, pair, template, preview)
            return
        self._preview_request = request = (split, pair.get("row"), template, cfg["system_prompt"], self._tokenizer)

        def done(preview) -> None:
            if shiboken6.isValid(self) and self._preview_request == request:
                self._show_templated(split, pair, template, preview)

        def failed(text: str, _tb: str) -> None:  # a tokenizer whose template raises: shown in words
            if shiboken6.isValid(self) and self._preview_request == request:
                self.templated_label.setText(f"The template could not be applied to this row: {text}")
                self.templated_view.clear()

        self.templated_label.setText(f"{split} row {pair.get('row')}: applying the template…")
        run_task(
            None,
            tokenizer_cache.preview,
            pair,
            self._tokenizer,
            template,
            cfg["system_prompt"],
            on_result=done,
            on_error=failed,
            in_child=True,
        )

    def _show_templated(self, split: str, pair: dict, template: str, preview) -> None:
        name = dict(_TEMPLATES)[template]
        counts = ""
        if preview.prompt_tokens is not None:
            counts = (
                f" — {preview.prompt_tokens} prompt tokens, {preview.chosen_tokens} chosen, "
                f"{preview.rejected_tokens} rejected (max length {self._max_length})"
            )
        tok = f", tokenizer of {self._tokenizer_spec}" if self._tokenizer is not None and self._tokenizer_spec else ""
        self.templated_label.setText(
            f"{split} row {pair['row']}, {name}{tok}{counts}. Special tokens are shown as the model receives them."
        )
        self.templated_view.setPlainText(
            "━━━ prompt ━━━\n"
            + preview.prompt_text
            + "\n━━━ chosen (continues the prompt) ━━━\n"
            + preview.chosen_text
            + "\n━━━ rejected (continues the prompt) ━━━\n"
            + preview.rejected_text
        )
