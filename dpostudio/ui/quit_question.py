"""The question asked when the window is closed while a run trains: stop it (a checkpoint is saved) and quit, or
keep training. Keeping is the default and what Escape does: nothing is lost by a stray Cmd-Q."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


class StopAndQuitQuestion(QMessageBox):
    def __init__(self, parent: QWidget | None = None, step: int = 0):
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Question)
        self.setWindowTitle("A run is training")
        self.setText("A run is still training. Stop it and quit?")
        self.setInformativeText(
            "Stopping saves a checkpoint at the next step; Resume continues the run from there when you come back."
            if step > 0
            else "It has not finished its first step yet, so there is no checkpoint to come back to: stopping now "
            "ends the run, and Train starts it again from the beginning."
        )
        self.stop_button = self.addButton("Stop and Quit", QMessageBox.ButtonRole.AcceptRole)
        self.keep_button = self.addButton("Keep Training", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.keep_button)
        self.setEscapeButton(self.keep_button)

    def ask(self) -> bool:
        """Show it (modal) and say whether to stop and quit."""
        self.exec()
        return self.clickedButton() is self.stop_button
