"""Diagnostics: reading a DPO run's metric stream in plain words while it goes (likelihood displacement,
saturation, overfitting, collapse, not learning, ...). ``findings`` holds the vocabulary and the watcher."""

from dpostudio.core.diagnostics.findings import Finding, RunWatcher, diagnose, load_findings, save_findings

__all__ = ["Finding", "RunWatcher", "diagnose", "load_findings", "save_findings"]
