"""Comparison: base vs tuned answers from the same weights, judged in both orders, saved item by item.

``comparison.compare`` runs one; ``store`` reads and writes its records; ``prompt_sets`` holds the prompt lists.
"""
