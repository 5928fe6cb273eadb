"""The Qt layer of DPO Studio: the main window, one module per pane, workers on QThreads, chart widgets.

Nothing in ``dpostudio.core`` imports from here. Heavy libraries (torch, transformers, trl, datasets) are only
imported inside background tasks, so the window opens quickly; ``app.run_app()`` is the entry point.
"""
