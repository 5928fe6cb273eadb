"""Comparison: base vs tuned answers from the same weights, judged in both orders, saved item by item.

``comparison.compare`` runs one (its public names are all importable from ``comparison``); ``settings`` holds
``GenerationSettings`` and ``ComparisonError``; ``generation`` loads the model with its adapter and streams answers;
``judging`` asks a judge in both orders; ``store`` reads and writes its records; ``prompt_sets`` the prompt lists.
"""
